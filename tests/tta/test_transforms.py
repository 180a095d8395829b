"""Tests for jvision/tta/transforms.py: inverses, numpy equivalents, identities, refusals."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from jvision import tta
from jvision.tta import transforms as T

IMAGE = np.random.RandomState(0).randn(2, 6, 6, 3).astype(np.float32)


@pytest.mark.parametrize("transform,p", [
    (T.HorizontalFlip(), 1), (T.VerticalFlip(), 1), (T.Rotate90(), 90), (T.Rotate90(), 180),
    (T.Rotate90(), 270), (T.Scale([2.0], "nearest"), 2.0), (T.Resize([(12, 18)], "nearest"), (12, 18))])
def test_deaugment_of_augment_is_the_identity_for_masks(transform, p):
  augmented = transform.augment_image(jnp.asarray(IMAGE), p)
  assert augmented.shape != IMAGE.shape or not np.allclose(augmented, IMAGE)
  chex.assert_trees_all_close(transform.deaugment_mask(augmented, p, IMAGE.shape[1:3]), IMAGE)


def test_augmentations_match_numpy():
  x = jnp.asarray(IMAGE)
  chex.assert_trees_all_close(T.HorizontalFlip().augment_image(x, 1), IMAGE[:, :, ::-1])
  chex.assert_trees_all_close(T.VerticalFlip().augment_image(x, 1), IMAGE[:, ::-1])
  for angle in (0, 90, 180, 270):
    chex.assert_trees_all_close(T.Rotate90().augment_image(x, angle), np.rot90(IMAGE, angle // 90, axes=(1, 2)))
  chex.assert_trees_all_close(T.Add([2.0]).augment_image(x, 2.0), IMAGE + 2)
  chex.assert_trees_all_close(T.Multiply([0.5]).augment_image(x, 0.5), IMAGE * 0.5)
  crops = [IMAGE[:, :4, :3], IMAGE[:, :4, 3:], IMAGE[:, 2:, :3], IMAGE[:, 2:, 3:], IMAGE[:, 1:5, 1:4]]
  for i, expected in enumerate(crops):
    chex.assert_trees_all_close(T.FiveCrops(4, 3).augment_image(x, i), expected)


def _bright_pixel_image(row, col, h, w):
  image = np.zeros((1, h, w, 1), np.float32)
  image[0, row, col] = 1.0
  return image


def _argmax_keypoint(image):
  """Centre of the bright pixels, as (x, y) in [0, 1] with pixel centres at (i + 0.5) / size."""
  h, w = image.shape[1:3]
  rows, cols = np.nonzero(image[0, ..., 0] > 0.5)
  return np.array([[[(cols.mean() + 0.5) / w, (rows.mean() + 0.5) / h]]], np.float32)


@pytest.mark.parametrize("transform,params,size", [
    (T.HorizontalFlip(), (1,), (5, 7)), (T.VerticalFlip(), (1,), (5, 7)),
    (T.Rotate90(), (90, 180, 270), (5, 5)), (T.Scale([2.0], "nearest"), (2.0,), (5, 7))])
def test_keypoints_found_on_the_augmented_image_map_back_to_the_original(transform, params, size):
  image = _bright_pixel_image(1, 3, *size)
  for p in params:
    found = _argmax_keypoint(np.asarray(transform.augment_image(jnp.asarray(image), p)))
    chex.assert_trees_all_close(transform.deaugment_keypoints(jnp.asarray(found), p),
                                _argmax_keypoint(image), atol=1e-6)


def _box_of(image):
  h, w = image.shape[1:3]
  rows, cols = np.nonzero(image[0, ..., 0] > 0.5)
  return np.array([[[cols.min() / w, rows.min() / h, (cols.max() + 1) / w, (rows.max() + 1) / h]]], np.float32)


@pytest.mark.parametrize("transform,params", [
    (T.HorizontalFlip(), (1,)), (T.VerticalFlip(), (1,)), (T.Rotate90(), (90, 180, 270))])
def test_boxes_found_on_the_augmented_image_map_back_to_the_original(transform, params):
  image = np.zeros((1, 8, 8, 1), np.float32)
  image[0, 1:4, 2:7] = 1.0
  for p in params:
    found = _box_of(np.asarray(transform.augment_image(jnp.asarray(image), p)))
    chex.assert_trees_all_close(transform.deaugment_boxes(jnp.asarray(found), p), _box_of(image), atol=1e-6)


def test_identity_parameters_are_always_included_first():
  assert T.Rotate90([90, 180]).params == (0, 90, 180)
  assert T.Scale([2.0, 1.0, 0.5]).params == (1.0, 2.0, 0.5)
  assert T.Resize([(8, 8)]).params == (None, (8, 8))
  assert T.Add([3.0]).params == (0.0, 3.0)
  assert T.Multiply([2.0]).params == (1.0, 2.0)
  assert T.HorizontalFlip().params == (0, 1)


def test_aliases_have_the_product_of_their_parameter_lists():
  assert len(tta.d4_transform()) == 8
  assert len(tta.flip_transform()) == 4
  assert len(tta.hflip_transform()) == 2
  assert len(tta.five_crop_transform(4, 4)) == 5
  assert len(tta.ten_crop_transform(4, 4)) == 10
  assert len(tta.multiscale_transform([0.5, 2.0])) == 3
  groups = tta.Compose([T.Scale([2.0]), T.HorizontalFlip()]).groups()
  assert groups == [((1.0, None), [(0,), (1,)]), ((2.0, None), [(0,), (1,)])]


def test_bad_transforms_are_refused_with_a_clear_message():
  with pytest.raises(ValueError, match="multiples of 90"):
    T.Rotate90([45])
  with pytest.raises(ValueError, match="needs square images"):
    T.Rotate90().augment_image(jnp.zeros((1, 4, 6, 1)), 90)
  # Half turns alone are fine on a non-square image.
  wide = jnp.asarray(IMAGE[:, :4])
  chex.assert_trees_all_close(T.Rotate90([180]).augment_image(wide, 180), np.rot90(IMAGE[:, :4], 2, axes=(1, 2)))
  with pytest.raises(ValueError, match="do not fit"):
    T.FiveCrops(8, 8).augment_image(jnp.zeros((1, 4, 6, 1)), 0)
  with pytest.raises(ValueError, match="positive"):
    T.Scale([0.0])
  for kind in ("masks", "keypoints", "boxes"):
    with pytest.raises(ValueError, match=f"FiveCrops cannot de-augment {kind}"):
      tta.ten_crop_transform(4, 4).require(kind)
