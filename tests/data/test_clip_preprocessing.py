"""CLIP preprocessing: crop geometry by hand, bicubic resize against PIL, normalization constants."""

import numpy as np
import pytest
from PIL import Image

from jvision.data.clip_preprocessing import CLIP_MEAN, CLIP_STD, clip_preprocess, resize_center_crop


def test_center_crop_without_resize():
  image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
  # Shorter side already 4: crop columns 1..4 of 6 (offset round(2 / 2) = 1).
  np.testing.assert_array_equal(resize_center_crop(image, 4), image[:, 1:5])


def test_resize_shorter_side_bicubic_then_crop():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
  want = np.asarray(Image.fromarray(image).resize((15, 10), Image.BICUBIC))[:, 2:12]  # 15 wide -> offset 2.
  np.testing.assert_array_equal(resize_center_crop(image, 10), want)


def test_normalization_of_a_constant_image():
  image = np.full((8, 8, 3), 51, np.uint8)
  out = clip_preprocess(image, 8)
  want = (0.2 - np.asarray(CLIP_MEAN)) / np.asarray(CLIP_STD)
  np.testing.assert_allclose(out, np.broadcast_to(want, (8, 8, 3)), rtol=1e-5)
  assert out.dtype == np.float32


def test_bad_input():
  with pytest.raises(ValueError, match="uint8"):
    clip_preprocess(np.zeros((8, 8, 3), np.float32), 8)
