"""XRV normalization, its errors and warnings, crop/resize and the shared image/mask augmentation."""

import warnings

import chex
import numpy as np
import pytest

from jvision.xray import preprocess


def test_xrv_normalize_8_and_16_bit_hand_values():
  image8 = np.array([[0, 128, 255]], np.uint8)
  out = preprocess.xrv_normalize(image8, 255)
  chex.assert_shape(out, (1, 3, 1))
  np.testing.assert_allclose(out[0, :, 0], [-1024.0, (2 * 128 / 255 - 1) * 1024, 1024.0], atol=1e-3)
  image16 = np.array([[0, 4095, 65535]], np.uint16)
  np.testing.assert_allclose(preprocess.xrv_normalize(image16, 65535)[0, :, 0],
                             [-1024.0, (2 * 4095 / 65535 - 1) * 1024, 1024.0], atol=1e-3)
  colour = np.stack([image8, image8 // 2 * 0, image8], -1)  # Channel mean = 2/3 of the value.
  np.testing.assert_allclose(preprocess.xrv_normalize(colour, 255)[0, 2, 0], (2 * 170 / 255 - 1) * 1024, atol=1e-3)


def test_xrv_normalize_errors():
  with pytest.raises(ValueError, match="maximum 4095 exceeds the declared max_value 255"):
    preprocess.xrv_normalize(np.array([[0, 4095]], np.uint16), 255)
  with pytest.raises(ValueError, match="negative"):
    preprocess.xrv_normalize(np.array([[-1.0, 0.5]], np.float32), 1.0)
  with pytest.raises(ValueError, match="NaN"):
    preprocess.xrv_normalize(np.array([[np.nan]], np.float32), 1.0)
  with pytest.raises(ValueError, match="shape"):
    preprocess.xrv_normalize(np.zeros((2, 2, 2, 2)), 1.0)
  with pytest.raises(TypeError, match="dtype"):
    preprocess.xrv_normalize(np.zeros((2, 2), bool), 1.0)


def test_check_xrv_range_warns_outside_and_is_silent_inside():
  with pytest.warns(preprocess.XrvRangeWarning, match=r"\[0, 2000\]"):
    preprocess.check_xrv_range(np.array([0.0, 2000.0]))
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    preprocess.check_xrv_range(np.array([-1024.0, 0.0, 1024.0]))
  with pytest.raises(ValueError, match="NaN"):
    preprocess.check_xrv_range(np.array([np.nan]))


def test_center_crop_resize_and_pipeline():
  image = np.arange(6 * 10).reshape(6, 10, 1)
  np.testing.assert_array_equal(preprocess.center_crop(image), image[:, 2:8])
  small = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
  np.testing.assert_array_equal(preprocess.resize(small, 8, order=0), np.repeat(np.repeat(small, 2, 0), 2, 1))
  out = preprocess.xrv_preprocess(np.full((30, 50), 255, np.uint8), 255, size=224)
  chex.assert_shape(out, (224, 224, 1))
  np.testing.assert_allclose(out, 1024.0)


def test_random_affine_same_draw_for_image_and_masks():
  image = np.zeros((48, 40, 1), np.float32)
  image[10:22, 8:20] = 1.0
  mask = (image > 0).astype(np.uint8)
  # Pure translation: re-derive the draw and move the mask by hand (nearest neighbour).
  out, [out_mask] = preprocess.random_affine(image, [mask], rng=np.random.default_rng(3), max_rotation_degrees=0,
                                             scale_range=(1, 1), max_translation=0.2, fill=0.0)
  rng = np.random.default_rng(3)
  rng.uniform(0, 0), rng.uniform(1, 1)
  dx, dy = rng.uniform(-0.2, 0.2, size=2) * (40, 48)
  ys, xs = np.mgrid[:48, :40]
  src_y, src_x = np.round(ys - dy).astype(int), np.round(xs - dx).astype(int)
  inside = (src_y >= 0) & (src_y < 48) & (src_x >= 0) & (src_x < 40)
  expected = np.where(inside, mask[np.clip(src_y, 0, 47), np.clip(src_x, 0, 39), 0], 0)
  np.testing.assert_array_equal(out_mask[..., 0], expected)
  # With rotation and scale the mask still follows the image.
  out, [out_mask] = preprocess.random_affine(image, [mask], rng=np.random.default_rng(5), max_rotation_degrees=30,
                                             fill=0.0)
  assert out_mask.dtype == np.uint8
  agreement = np.mean((out[..., 0] > 0.5) == (out_mask[..., 0] > 0))
  assert agreement > 0.98, agreement
  with pytest.raises(ValueError, match="mask shape"):
    preprocess.random_affine(image, [mask[:5]], rng=np.random.default_rng(0))


def test_random_blur_reproduces_its_draw_and_keeps_the_mean():
  from scipy import ndimage

  image = np.random.default_rng(0).normal(size=(24, 20, 2)).astype(np.float32)
  rng = np.random.default_rng(7)
  out = preprocess.random_blur(image, rng=rng, max_sigma=2.0, probability=1.0)
  # Re-derive the draw: the probability coin, then sigma in (0, max_sigma]; channels blurred separately.
  check = np.random.default_rng(7)
  check.random()
  sigma = 2.0 * (1.0 - check.random())
  for c in range(2):
    np.testing.assert_allclose(out[..., c], ndimage.gaussian_filter(image[..., c], sigma, mode="reflect"),
                               rtol=1e-5, atol=1e-5)
  assert out.dtype == np.float32 and out.std() < image.std()  # Smoother.
  np.testing.assert_allclose(out.mean(axis=(0, 1)), image.mean(axis=(0, 1)), atol=1e-4)  # Reflect keeps the mean.
  assert preprocess.random_blur(image, rng=rng, max_sigma=2.0, probability=0.0) is image
  assert preprocess.random_blur(image, rng=rng, max_sigma=0.0, probability=1.0) is image
  blurred = [not np.array_equal(preprocess.random_blur(image, rng=rng, max_sigma=1.0, probability=0.3), image)
             for _ in range(400)]
  assert 0.22 < np.mean(blurred) < 0.38  # About the asked share.
  for bad in (-1.0, float("nan")):
    with pytest.raises(ValueError, match="max_sigma >= 0 and probability in"):
      preprocess.random_blur(image, rng=rng, max_sigma=bad)
  with pytest.raises(ValueError, match=r"expects an image \[H, W, C\]"):
    preprocess.random_blur(image[..., 0], rng=rng, max_sigma=1.0)
