"""Classification augmentation: each output is checked against what the transform must produce."""

import numpy as np
import pytest

from jvision.data import transforms


def test_random_crop_with_padding_is_a_window_of_the_padded_image():
  image = np.arange(5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2) + 1
  padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
  seen = set()
  for seed in range(40):
    out = transforms.random_crop_with_padding(image, 2, np.random.default_rng(seed))
    assert out.shape == image.shape
    windows = [(t, l) for t in range(5) for l in range(5)
               if np.array_equal(padded[t:t + 5, l:l + 6], out)]
    assert len(windows) == 1
    seen.add(windows[0])
  assert len(seen) > 10  # Offsets really vary.
  assert transforms.random_crop_with_padding(image, 0, np.random.default_rng(0)) is image


def test_flip_is_either_identity_or_mirror_and_both_happen():
  image = np.random.default_rng(0).random((4, 5, 3))
  outcomes = set()
  for seed in range(20):
    out = transforms.random_flip_left_right(image, np.random.default_rng(seed))
    if np.array_equal(out, image):
      outcomes.add("same")
    else:
      np.testing.assert_array_equal(out, image[:, ::-1])
      outcomes.add("mirrored")
  assert outcomes == {"same", "mirrored"}


def test_to_float_and_normalize():
  image = np.array([[[0, 255, 51]]], np.uint8)
  np.testing.assert_allclose(transforms.to_float(image), [[[0.0, 1.0, 0.2]]], rtol=1e-6)
  out = transforms.normalize(transforms.to_float(image), (0.5, 0.5, 0.2), (0.5, 0.25, 0.1))
  np.testing.assert_allclose(out, [[[-1.0, 2.0, 0.0]]], atol=1e-6)


def test_bad_inputs_are_clear_errors():
  with pytest.raises(TypeError, match="expects a uint8 image, got dtype float32"):
    transforms.to_float(np.zeros((2, 2, 1), np.float32))
  with pytest.raises(ValueError, match="std must be positive"):
    transforms.normalize(np.zeros((2, 2, 1)), (0.0,), (0.0,))
  with pytest.raises(ValueError, match="mean/std need 1 or 3 values"):
    transforms.normalize(np.zeros((2, 2, 3)), (0.0, 0.0), (1.0,))
  with pytest.raises(ValueError, match=r"expects \[H, W, C\]"):
    transforms.random_crop_with_padding(np.zeros((4, 4)), 1, np.random.default_rng(0))


def test_crop_around_box_by_hand():
  image = np.arange(20 * 10, dtype=np.float32).reshape(20, 10, 1)
  # Box rows 4..8 (4 px), columns 2..4 (2 px) of the 20 x 10 image: side 4 x 1.5 = 6, centre (6, 3).
  window = transforms.crop_around_box(image, [0.2, 0.2, 0.4, 0.4], context=0.5)
  np.testing.assert_array_equal(window, image[3:9, 0:6])
  # Near the border the window slides inside instead of shrinking: centre column 9.5 -> columns 4..10.
  np.testing.assert_array_equal(transforms.crop_around_box(image, [0.2, 0.9, 0.4, 1.0], 0.5), image[3:9, 4:10])
  # A window larger than the image is clipped to the shorter side.
  assert transforms.crop_around_box(image, [0.0, 0.0, 1.0, 1.0], 0.5).shape == (10, 10, 1)
  with pytest.raises(ValueError, match="min <= max"):
    transforms.crop_around_box(image, [0.5, 0.0, 0.2, 1.0])
  with pytest.raises(ValueError, match="context must be >= 0"):
    transforms.crop_around_box(image, [0.2, 0.2, 0.4, 0.4], context=-1)
