"""Tests for jvision/ops/roi.py against loop-by-loop numpy re-derivations of torchvision's kernels."""

import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.ops import roi


def reference_roi_align(features, boxes, box_indices, output_size, spatial_scale, sampling_ratio, aligned,
                        upstream=None):
  """torchvision's roi_align forward (and backward for ``upstream``), one sample at a time, in float64."""
  features = np.asarray(features, np.float64)
  _, height, width, channels = features.shape
  ph_n, pw_n = output_size
  out = np.zeros((len(boxes), ph_n, pw_n, channels))
  grad = np.zeros_like(features)
  offset = 0.5 if aligned else 0.0

  def bilinear(y, x):  # [(row, col, weight)] for one sample
    if y < -1.0 or y > height or x < -1.0 or x > width:
      return []
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
      y_high = y_low = height - 1
      y = float(y_low)
    else:
      y_high = y_low + 1
    if x_low >= width - 1:
      x_high = x_low = width - 1
      x = float(x_low)
    else:
      x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return [(y_low, x_low, hy * hx), (y_low, x_high, hy * lx), (y_high, x_low, ly * hx), (y_high, x_high, ly * lx)]

  for k, (box, b) in enumerate(zip(np.asarray(boxes, np.float64), box_indices)):
    x1, y1, x2, y2 = box * spatial_scale - offset
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
      roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
    bin_h, bin_w = roi_h / ph_n, roi_w / pw_n
    grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / ph_n)
    grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / pw_n)
    count = max(grid_h * grid_w, 1)
    for ph in range(ph_n):
      for pw in range(pw_n):
        for iy in range(grid_h):
          y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
          for ix in range(grid_w):
            x = x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
            for r, c, w in bilinear(y, x):
              out[k, ph, pw] += w * features[b, r, c] / count
              if upstream is not None:
                grad[b, r, c] += w * upstream[k, ph, pw] / count
  return out, grad


def reference_roi_pool(features, boxes, box_indices, output_size, spatial_scale, upstream=None):
  """torchvision's roi_pool forward (and backward to the first argmax), bin by bin."""
  features = np.asarray(features, np.float64)
  _, height, width, channels = features.shape
  ph_n, pw_n = output_size
  out = np.zeros((len(boxes), ph_n, pw_n, channels))
  grad = np.zeros_like(features)
  round_half_away = lambda v: math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)
  for k, (box, b) in enumerate(zip(np.asarray(boxes, np.float64), box_indices)):
    sx, sy, ex, ey = (round_half_away(v * spatial_scale) for v in box)
    roi_w, roi_h = max(ex - sx + 1, 1), max(ey - sy + 1, 1)
    bin_h, bin_w = roi_h / ph_n, roi_w / pw_n
    for ph in range(ph_n):
      for pw in range(pw_n):
        hs = min(max(math.floor(ph * bin_h) + sy, 0), height)
        he = min(max(math.ceil((ph + 1) * bin_h) + sy, 0), height)
        ws = min(max(math.floor(pw * bin_w) + sx, 0), width)
        we = min(max(math.ceil((pw + 1) * bin_w) + sx, 0), width)
        if he <= hs or we <= ws:
          continue
        region = features[b, hs:he, ws:we].reshape(-1, channels)
        out[k, ph, pw] = region.max(0)
        if upstream is not None:
          first = region.argmax(0)
          for c in range(channels):
            r, col = divmod(int(first[c]), we - ws)
            grad[b, hs + r, ws + col, c] += upstream[k, ph, pw, c]
  return out, grad


def random_rois(rng, num, image_size, num_images):
  xy = rng.uniform(-10, image_size, (num, 2))
  wh = rng.uniform(0.0, image_size / 1.5, (num, 2))
  boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
  boxes[0] = [4.0, 4.0, 4.3, 4.2]  # smaller than a cell
  boxes[1] = [-40.0, -40.0, -20.0, -30.0]  # entirely outside
  return boxes, rng.integers(0, num_images, num).astype(np.int32)


def test_roi_align_hand_value():
  # 4x4 map of its own column index; the box [0, 0, 4, 4] with 2x2 bins and one sample per bin samples at
  # (1, 1), (1, 3), (3, 1), (3, 3): the last column is clamped so x = 3 reads 3.
  features = jnp.tile(jnp.arange(4.0)[None, None, :, None], (1, 4, 1, 1))
  out = roi.roi_align(features, jnp.array([[0.0, 0.0, 4.0, 4.0]]), jnp.array([0]), 2, 1.0, 1, False)
  chex.assert_trees_all_close(out[0, :, :, 0], jnp.array([[1.0, 3.0], [1.0, 3.0]]))
  # aligned=True samples half a pixel earlier: x = 0.5 and 2.5.
  out = roi.roi_align(features, jnp.array([[0.0, 0.0, 4.0, 4.0]]), jnp.array([0]), 2, 1.0, 1, True)
  chex.assert_trees_all_close(out[0, :, :, 0], jnp.array([[0.5, 2.5], [0.5, 2.5]]))


@pytest.mark.parametrize("sampling_ratio,aligned", [(2, False), (2, True), (-1, False), (0, True)])
def test_roi_align_matches_reference_forward_and_backward(sampling_ratio, aligned):
  rng = np.random.default_rng(abs(sampling_ratio) + 10 * aligned)
  features = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
  boxes, indices = random_rois(rng, 10, 40, 2)
  upstream = rng.normal(size=(10, 3, 2, 3))
  fn = jax.jit(functools.partial(roi.roi_align, output_size=(3, 2), spatial_scale=0.25,
                                 sampling_ratio=sampling_ratio, aligned=aligned))
  out, vjp = jax.vjp(lambda f: fn(f, boxes, indices), jnp.asarray(features))
  expected, expected_grad = reference_roi_align(features, boxes, indices, (3, 2), 0.25, sampling_ratio,
                                                 aligned, upstream)
  chex.assert_shape(out, (10, 3, 2, 3))
  np.testing.assert_allclose(np.asarray(out), expected, atol=1e-5)
  (grad,) = vjp(jnp.asarray(upstream, jnp.float32))
  np.testing.assert_allclose(np.asarray(grad), expected_grad, atol=1e-5)


def test_roi_align_adaptive_cap_and_errors():
  rng = np.random.default_rng(3)
  features = rng.normal(size=(1, 8, 8, 2)).astype(np.float32)
  boxes = np.array([[0.0, 0.0, 30.0, 30.0]], np.float32)  # 30 cells tall: 15 samples per 2 bins, capped to 3
  capped = roi.roi_align(features, boxes, np.array([0]), 2, 1.0, -1, False, max_sampling_ratio=3)
  fixed = roi.roi_align(features, boxes, np.array([0]), 2, 1.0, 3, False)
  chex.assert_trees_all_close(capped, fixed)
  with pytest.raises(ValueError, match="NHWC"):
    roi.roi_align(features[0], boxes, np.array([0]), 2)
  with pytest.raises(ValueError, match="box_indices"):
    roi.roi_align(features, boxes, np.array([0, 0]), 2)
  with pytest.raises(ValueError, match="output_size"):
    roi.roi_align(features, boxes, np.array([0]), (2, 0))


def test_roi_pool_matches_reference_forward_and_backward():
  rng = np.random.default_rng(4)
  features = rng.normal(size=(2, 10, 12, 3)).astype(np.float32)
  boxes, indices = random_rois(rng, 12, 48, 2)
  upstream = rng.normal(size=(12, 3, 4, 3))
  fn = jax.jit(functools.partial(roi.roi_pool, output_size=(3, 4), spatial_scale=0.25, roi_batch_size=5))
  out, vjp = jax.vjp(lambda f: fn(f, boxes, indices), jnp.asarray(features))
  expected, expected_grad = reference_roi_pool(features, boxes, indices, (3, 4), 0.25, upstream)
  np.testing.assert_allclose(np.asarray(out), expected, atol=1e-6)
  (grad,) = vjp(jnp.asarray(upstream, jnp.float32))
  np.testing.assert_allclose(np.asarray(grad), expected_grad, atol=1e-5)


def test_roi_pool_hand_value():
  features = jnp.arange(16.0).reshape(1, 4, 4, 1)
  # Box [0, 0, 3, 3] covers all 4x4 cells; 2x2 bins take the max of each quadrant.
  out = roi.roi_pool(features, jnp.array([[0.0, 0.0, 3.0, 3.0]]), jnp.array([0]), 2)
  chex.assert_trees_all_close(out[0, :, :, 0], jnp.array([[5.0, 7.0], [13.0, 15.0]]))


def test_roi_align_vmap_over_images_equals_batched_call():
  rng = np.random.default_rng(5)
  features = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
  boxes, _ = random_rois(rng, 12, 32, 3)
  per_image = boxes.reshape(3, 4, 4)
  align = functools.partial(roi.roi_align, output_size=2, spatial_scale=0.25, sampling_ratio=2, aligned=True)
  batched = align(features, boxes, np.repeat(np.arange(3), 4).astype(np.int32))
  vmapped = jax.vmap(lambda f, b: align(f[None], b, jnp.zeros((4,), jnp.int32)))(features, per_image)
  chex.assert_trees_all_close(vmapped.reshape(batched.shape), batched, atol=1e-6)


def test_fpn_levels_by_hand():
  boxes = jnp.array([[0, 0, 224, 224], [0, 0, 112, 112], [0, 0, 448, 448], [0, 0, 10, 10], [0, 0, 2000, 2000],
                     [0, 0, 223, 223]], jnp.float32)
  np.testing.assert_array_equal(np.asarray(roi.fpn_levels(boxes, 2, 5)), [4, 3, 5, 2, 5, 3])


def test_multilevel_roi_align_picks_each_rois_level():
  rng = np.random.default_rng(0)
  fine = jnp.asarray(rng.normal(size=(1, 16, 16, 3)), jnp.float32)
  coarse = jnp.asarray(rng.normal(size=(1, 8, 8, 3)), jnp.float32)
  boxes = jnp.array([[0, 0, 20, 20], [8, 8, 60, 60], [4, 4, 12, 30]], jnp.float32)
  indices = jnp.zeros(3, jnp.int32)
  levels = jnp.array([0, 1, 0])
  out = roi.multilevel_roi_align([fine, coarse], boxes, indices, 2, spatial_scales=(0.25, 0.125), levels=levels,
                                 sampling_ratio=2)
  expected_fine = roi.roi_align(fine, boxes, indices, 2, spatial_scale=0.25, sampling_ratio=2)
  expected_coarse = roi.roi_align(coarse, boxes, indices, 2, spatial_scale=0.125, sampling_ratio=2)
  np.testing.assert_allclose(np.asarray(out), np.asarray(jnp.stack([expected_fine[0], expected_coarse[1],
                                                                    expected_fine[2]])), rtol=1e-6)
