"""Tests for jvision/ops/masks.py: loop-by-loop numpy re-derivations and hand-built cases."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.ops import masks as mask_ops


def reference_mask_target(mask, box, size, aligned=True):
  """RoIAlign of one mask with adaptive sampling, one sample at a time (Detectron2's crop_and_resize with
  ``aligned=True``; torchvision's project_masks_on_boxes with ``aligned=False``)."""
  height, width = mask.shape
  x1, y1, x2, y2 = np.asarray(box, np.float64) - (0.5 if aligned else 0.0)
  roi_w, roi_h = x2 - x1, y2 - y1
  if not aligned:
    roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
  bin_h, bin_w = roi_h / size, roi_w / size
  grid_h, grid_w = max(math.ceil(bin_h), 0), max(math.ceil(bin_w), 0)

  def bilinear(y, x):
    if y < -1.0 or y > height or x < -1.0 or x > width:
      return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = min(int(y), height - 1), min(int(x), width - 1)
    y1_, x1_ = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
    if y0 == height - 1:
      y = float(y0)
    if x0 == width - 1:
      x = float(x0)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * mask[y0, x0] + (1 - ly) * lx * mask[y0, x1_] + ly * (1 - lx) * mask[y1_, x0]
            + ly * lx * mask[y1_, x1_])

  out = np.zeros((size, size))
  for ph in range(size):
    for pw in range(size):
      total = sum(bilinear(y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h,
                           x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w)
                  for iy in range(grid_h) for ix in range(grid_w))
      out[ph, pw] = total / max(grid_h * grid_w, 1)
  return out


def reference_paste(mask, box, height, width):
  """Detectron2's _do_paste_mask for one RoI: grid_sample(align_corners=False, zero padding) at pixel centres."""
  m_h, m_w = mask.shape
  x1, y1, x2, y2 = np.asarray(box, np.float64)
  out = np.zeros((height, width))
  if x2 <= x1 or y2 <= y1:
    return out
  padded = np.pad(np.asarray(mask, np.float64), 1)  # zeros outside the grid
  for y in range(height):
    v = ((y + 0.5 - y1) / (y2 - y1) * 2 - 1 + 1) * m_h / 2 - 0.5  # grid_sample's unnormalize
    for x in range(width):
      u = ((x + 0.5 - x1) / (x2 - x1) * 2 - 1 + 1) * m_w / 2 - 0.5
      v0, u0 = math.floor(v), math.floor(u)
      value = 0.0
      for dv, du in ((0, 0), (0, 1), (1, 0), (1, 1)):
        row, col = v0 + dv, u0 + du
        if -1 <= row <= m_h and -1 <= col <= m_w:
          value += (1 - abs(v - row)) * (1 - abs(u - col)) * padded[row + 1, col + 1]
      out[y, x] = value
  return out


def random_instances(seed, num_gt=4, height=23, width=31):
  rng = np.random.default_rng(seed)
  ys, xs = np.mgrid[:height, :width]
  centres = rng.uniform(0, [height, width], (num_gt, 2))
  radii = rng.uniform(3, 10, (num_gt, 2))
  return ((ys - centres[:, None, None, 0]) / radii[:, None, None, 0]) ** 2 + (
      (xs - centres[:, None, None, 1]) / radii[:, None, None, 1]) ** 2 <= 1


def test_mask_targets_match_reference():
  gt_masks = random_instances(0)
  rng = np.random.default_rng(1)
  corners = rng.uniform(-4, 20, (9, 2))
  rois = np.concatenate([corners, corners + rng.uniform(1, 25, (9, 2))], axis=1)
  rois[0] = [3.0, 4.0, 3.5, 30.0]  # thinner than a cell
  matched = np.array([0, 1, 2, 3, 0, 1, 2, -1, 4])  # -1 and 4 (= G): no ground truth
  soft = mask_ops.mask_targets(gt_masks, rois, matched, size=7, threshold=None)
  hard = jax.jit(mask_ops.mask_targets, static_argnames=("size",))(gt_masks, rois, matched, size=7)
  chex.assert_shape([soft, hard], (9, 7, 7))
  for r in range(9):
    expected = (reference_mask_target(gt_masks[matched[r]].astype(float), rois[r], 7) if 0 <= matched[r] < 4
                else np.zeros((7, 7)))
    np.testing.assert_allclose(soft[r], expected, atol=1e-5)
    decided = np.abs(expected - 0.5) > 1e-4  # leave exact ties to float rounding
    np.testing.assert_array_equal(np.asarray(hard[r])[decided], (expected >= 0.5)[decided])
  legacy = mask_ops.mask_targets(gt_masks, rois, matched, size=7, threshold=None, aligned=False)
  for r in range(9):
    np.testing.assert_allclose(legacy[r], reference_mask_target(gt_masks[matched[r]].astype(float), rois[r], 7,
                                                                aligned=False) if 0 <= matched[r] < 4 else 0,
                               atol=1e-5)


def test_mask_targets_hand_built():
  # One object covering pixels 8..23 in both axes.
  gt = np.zeros((1, 32, 32), bool)
  gt[0, 8:24, 8:24] = True
  full, left_half = mask_ops.mask_targets(gt, jnp.array([[8.0, 8, 24, 24], [0.0, 8, 16, 24]]), jnp.array([0, 0]),
                                          size=28)
  np.testing.assert_array_equal(full, np.ones((28, 28)))
  # The second RoI spans x in [0, 16): the object starts at its middle column.
  expected = np.zeros((28, 28))
  expected[:, 14:] = 1
  np.testing.assert_array_equal(left_half, expected)
  soft = mask_ops.mask_targets(gt, jnp.array([[8.0, 8, 24, 24]]), jnp.array([0]), size=28, threshold=None)[0]
  # Edge samples sit 8/28 of a pixel inside the box edge, between a 0 pixel and a 1 pixel.
  edge = 0.5 + 8 / 28
  np.testing.assert_allclose([soft[0, 0], soft[0, 14], soft[14, 14]], [edge * edge, edge, 1.0], atol=1e-6)


def test_mask_targets_without_ground_truth_and_bad_shapes():
  zeros = mask_ops.mask_targets(np.zeros((0, 10, 10)), np.zeros((3, 4)), np.full(3, -1), size=5)
  np.testing.assert_array_equal(zeros, np.zeros((3, 5, 5)))
  with pytest.raises(ValueError, match="gt_masks must be \\[G, H, W\\]"):
    mask_ops.mask_targets(np.zeros((10, 10)), np.zeros((3, 4)), np.zeros(3, int))
  with pytest.raises(ValueError, match="matched_gt must be \\[R\\]"):
    mask_ops.mask_targets(np.zeros((1, 10, 10)), np.zeros((3, 4)), np.zeros(2, int))


def test_paste_masks_match_reference():
  rng = np.random.default_rng(2)
  probabilities = rng.uniform(size=(6, 5, 5)).astype(np.float32)
  corners = rng.uniform(-5, 15, (6, 2))
  boxes = np.concatenate([corners, corners + rng.uniform(0.5, 18, (6, 2))], axis=1).astype(np.float32)
  boxes[5] = [4, 4, 4, 9]  # zero width: nothing
  soft = mask_ops.paste_masks(probabilities, boxes, (17, 21), threshold=None)
  hard = jax.jit(mask_ops.paste_masks, static_argnames=("image_size",))(probabilities, boxes, image_size=(17, 21))
  chex.assert_shape([soft, hard], (6, 17, 21))
  assert hard.dtype == jnp.bool_
  for r in range(6):
    expected = reference_paste(probabilities[r], boxes[r], 17, 21)
    np.testing.assert_allclose(soft[r], expected, atol=1e-5)
    decided = np.abs(expected - 0.5) > 1e-4
    np.testing.assert_array_equal(np.asarray(hard[r])[decided], (expected >= 0.5)[decided])
  assert not np.any(hard[5])


@pytest.mark.parametrize("box, mask_size", [((3, 5, 11, 9), 28), ((0, 0, 40, 30), 28), ((7, 2, 8, 3), 4),
                                            ((-6, 10, 5, 40), 14)])
def test_paste_ones_fills_exactly_the_box(box, mask_size):
  pasted = mask_ops.paste_masks(np.ones((1, mask_size, mask_size)), np.array([box], np.float32), (32, 36))[0]
  x1, y1, x2, y2 = box
  expected = np.zeros((32, 36), bool)
  expected[max(y1, 0):y2, max(x1, 0):x2] = True  # the part of the box inside the image
  np.testing.assert_array_equal(pasted, expected)


def test_paste_left_half_and_round_trip_with_targets():
  # A 4x4 mask whose left half is on, pasted into an 8x8 box: the left 4 columns of the box.
  mask = np.zeros((1, 4, 4))
  mask[0, :, :2] = 1
  pasted = mask_ops.paste_masks(mask, np.array([[10.0, 20, 18, 28]]), (40, 40))[0]
  expected = np.zeros((40, 40), bool)
  expected[20:28, 10:14] = True
  np.testing.assert_array_equal(pasted, expected)
  # Cropping an object to its own box and pasting the target back recovers it.
  gt = random_instances(3, num_gt=1, height=40, width=40)
  ys, xs = np.nonzero(gt[0])
  box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
  target = mask_ops.mask_targets(gt, box, np.array([0]), size=28, threshold=None)
  np.testing.assert_array_equal(mask_ops.paste_masks(target, box, (40, 40))[0], gt[0])


def test_paste_masks_errors():
  with pytest.raises(ValueError, match="boxes must be \\[R, 4\\]"):
    mask_ops.paste_masks(np.zeros((2, 4, 4)), np.zeros((3, 4)), (8, 8))
  with pytest.raises(ValueError, match="image_size must be a static"):
    mask_ops.paste_masks(np.zeros((2, 4, 4)), np.zeros((2, 4)), (8.0, 8))
