"""Tests for jvision/tta/wrappers.py: wrappers against numpy loops over the augmentations."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision import tta

KERNEL = np.random.RandomState(0).randn(3, 3, 2, 4).astype(np.float32)


def segmenter(variables, images):
  """A model that is not flip or rotation equivariant: a conv plus a horizontal ramp. [B,H,W,2]->[B,H,W,4]."""
  y = jax.lax.conv_general_dilated(images, variables["kernel"], (1, 1), "SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return y + jnp.linspace(-1, 1, images.shape[2])[None, None, :, None]


def _numpy_d4_reference(images, variables):
  outputs = []
  for flip in (False, True):
    for k in range(4):
      x = images[:, :, ::-1] if flip else images
      y = np.asarray(segmenter(variables, np.ascontiguousarray(np.rot90(x, k, axes=(1, 2)))))
      y = np.rot90(y, -k, axes=(1, 2))
      outputs.append(y[:, :, ::-1] if flip else y)
  return np.stack(outputs)


def test_segmentation_d4_equals_the_numpy_loop_for_every_merge_mode():
  images = np.random.RandomState(1).randn(2, 6, 6, 2).astype(np.float32)
  variables = {"kernel": KERNEL}
  outputs = _numpy_d4_reference(images, variables)
  wrapper = tta.SegmentationTTA(segmenter, tta.d4_transform(), "mean")
  got = np.sort(np.asarray(wrapper.augmented(variables, images)), axis=0)
  chex.assert_trees_all_close(got, np.sort(outputs, axis=0), atol=1e-5)
  chex.assert_trees_all_close(wrapper(variables, images), outputs.mean(0), atol=1e-5)
  chex.assert_trees_all_close(tta.SegmentationTTA(segmenter, tta.d4_transform(), "max")(variables, images),
                              outputs.max(0), atol=1e-5)


def test_augmentations_share_one_traced_model_call_per_image_size():
  calls = []

  def counting_model():  # a fresh function each time, so that no trace is cached across wrappers
    def counting(variables, images):
      calls.append(images.shape)
      return segmenter(variables, images)
    return counting

  images = jnp.ones((1, 8, 8, 2))
  tta.SegmentationTTA(counting_model(), tta.d4_transform())({"kernel": KERNEL}, images)
  # One trace for the output size (eval_shape) and one vmapped trace for all 8 augmentations; a Python
  # loop over the augmentations would trace 9 times.
  assert calls == [(1, 8, 8, 2), (1, 8, 8, 2)]
  calls.clear()
  flip_and_scale = tta.Compose([tta.HorizontalFlip(), tta.Scale([2.0])])
  tta.SegmentationTTA(counting_model(), flip_and_scale)({"kernel": KERNEL}, images)
  assert calls == [(1, 8, 8, 2), (1, 8, 8, 2), (1, 16, 16, 2)]  # one vmapped trace per image size


def test_multiscale_segmentation_resizes_masks_back():
  images = np.random.RandomState(2).randn(1, 4, 4, 2).astype(np.float32)
  variables = {"kernel": KERNEL}
  merged = tta.SegmentationTTA(segmenter, tta.multiscale_transform([2.0], "nearest"))(variables, images)
  big = np.asarray(segmenter(variables, np.repeat(np.repeat(images, 2, 1), 2, 2)))
  # jax's nearest 8 -> 4 samples the centres 2i + 1 of the upsampled grid.
  expected = (np.asarray(segmenter(variables, images)) + big[:, 1::2, 1::2]) / 2
  chex.assert_trees_all_close(merged, expected, atol=1e-5)


def test_ten_crop_classification_equals_the_mean_over_numpy_crops():
  images = np.random.RandomState(3).randn(2, 6, 7, 2).astype(np.float32)
  classify = lambda v, x: jnp.einsum("bhwc,ck->bk", x, v) / (x.shape[1] * x.shape[2]) + x[:, 0, 0, :1]
  weights = np.random.RandomState(4).randn(2, 5).astype(np.float32)
  crops = []
  for x in (images, images[:, :, ::-1]):
    crops += [x[:, :4, :4], x[:, :4, 3:], x[:, 2:, :4], x[:, 2:, 3:], x[:, 1:5, 1:5]]
  expected = np.mean([np.asarray(classify(weights, c)) for c in crops], axis=0)
  chex.assert_trees_all_close(tta.ClassificationTTA(classify, tta.ten_crop_transform(4, 4))(weights, images),
                              expected, atol=1e-5)
  gmean = tta.ClassificationTTA(classify, tta.ten_crop_transform(4, 4), "gmean")(weights, images)
  chex.assert_tree_all_finite(gmean)


def _bright_spot_keypoint(variables, images):
  """Soft-argmax of the brightest spot: [B, H, W, 1] -> [B, 1, 2] (x, y) in [0, 1]."""
  del variables
  b, h, w, _ = images.shape
  p = jax.nn.softmax(50.0 * images.reshape(b, -1)).reshape(b, h, w)
  xs, ys = (jnp.arange(w) + 0.5) / w, (jnp.arange(h) + 0.5) / h
  return jnp.stack([jnp.einsum("bhw,w->b", p, xs), jnp.einsum("bhw,h->b", p, ys)], -1)[:, None]


def test_keypoints_under_d4_map_back_to_the_spot():
  images = np.zeros((2, 7, 7, 1), np.float32)
  images[0, 1, 5] = images[1, 4, 2] = 1.0
  expected = np.array([[[5.5 / 7, 1.5 / 7]], [[2.5 / 7, 4.5 / 7]]])
  wrapper = tta.KeypointsTTA(_bright_spot_keypoint, tta.d4_transform())
  augmented = wrapper.augmented(None, images)
  chex.assert_shape(augmented, (8, 2, 1, 2))
  chex.assert_trees_all_close(augmented, np.broadcast_to(expected, (8, 2, 1, 2)), atol=1e-4)
  chex.assert_trees_all_close(wrapper(None, images), expected, atol=1e-4)


def _rectangle_detector(variables, images):
  """Box of the pixels above 0.5 (class 0, score = the mean brightness inside), plus one padding slot."""
  del variables
  b, h, w, _ = images.shape
  on = images[..., 0] > 0.5
  rows, cols = jnp.any(on, 2), jnp.any(on, 1)
  first = lambda m: jnp.argmax(m, 1)
  last = lambda m: m.shape[1] - jnp.argmax(m[:, ::-1], 1)
  box = jnp.stack([first(cols) / w, first(rows) / h, last(cols) / w, last(rows) / h], -1)
  score = jnp.sum(images[..., 0] * on, (1, 2)) / jnp.sum(on, (1, 2))
  boxes = jnp.stack([box, jnp.zeros_like(box)], 1)
  return boxes, jnp.stack([score, jnp.zeros_like(score)], 1), jnp.tile(jnp.array([[0, -1]]), (b, 1))


def top_one_nms(boxes, scores, iou_threshold, max_output_size, score_threshold=-jnp.inf):
  """An NMS stand-in for identical boxes: keeps the best one (jvision.ops.nms's signature)."""
  del boxes, iou_threshold, score_threshold
  return jnp.full((max_output_size,), -1).at[0].set(jnp.argmax(scores))


@pytest.mark.parametrize("merge_mode", ["wbf", "nms"])
def test_detection_under_d4_fuses_the_eight_boxes_into_the_original(merge_mode):
  images = np.zeros((1, 8, 8, 1), np.float32)
  images[0, 1:4, 2:7] = 0.9
  wrapper = tta.DetectionTTA(_rectangle_detector, tta.d4_transform(), merge_mode, nms_fn=top_one_nms,
                             max_output_size=4)
  boxes, scores, classes = wrapper(None, images)
  chex.assert_trees_all_close(boxes[0, 0], jnp.array([2 / 8, 1 / 8, 7 / 8, 4 / 8]), atol=1e-6)
  chex.assert_trees_all_close(scores[0, 0], 0.9, atol=1e-6)
  np.testing.assert_array_equal(classes[0], [0] + [-1] * (classes.shape[1] - 1))
  assert classes.shape == ((1, 16) if merge_mode == "wbf" else (1, 4))


def test_wrappers_refuse_bad_configurations():
  with pytest.raises(ValueError, match="FiveCrops cannot de-augment masks"):
    tta.SegmentationTTA(segmenter, tta.five_crop_transform(4, 4))
  with pytest.raises(ValueError, match="needs nms_fn"):
    tta.DetectionTTA(_rectangle_detector, tta.d4_transform(), "nms")
  with pytest.raises(ValueError, match="unknown merge mode 'gmean'; known: wbf, nms"):
    tta.DetectionTTA(_rectangle_detector, tta.d4_transform(), "gmean")
  with pytest.raises(ValueError, match=r"TTA expects images \[B, H, W, C\]"):
    tta.ClassificationTTA(lambda v, x: x, tta.hflip_transform())(None, jnp.zeros((4, 4, 3)))


def test_half_turns_and_flips_run_vmapped_on_non_square_images():
  images = np.random.RandomState(5).randn(2, 4, 6, 2).astype(np.float32)
  transform = tta.Compose([tta.VerticalFlip(), tta.Rotate90([180])])
  augmented = tta.SegmentationTTA(lambda v, x: x * 2.0, transform).augmented(None, images)
  chex.assert_trees_all_close(augmented, np.broadcast_to(2 * images, (4,) + images.shape))
