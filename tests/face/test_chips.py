"""Face chips: the similarity transform against a known one, and chips against dlib.get_face_chip."""

import numpy as np
import pytest

from jvision.face import chips


def test_similarity_transform_recovers_a_known_transform():
  rng = np.random.default_rng(0)
  source = rng.uniform(0, 100, (7, 2))
  angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
  m = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  got_m, got_t = chips.similarity_transform(source, source @ m.T + shift)
  np.testing.assert_allclose(got_m, m, atol=1e-9)
  np.testing.assert_allclose(got_t, shift, atol=1e-7)


def test_grid_of_an_upright_face_by_hand():
  # Landmarks exactly on the 5-point template scaled by s and shifted: no rotation, and dlib spreads the chip's
  # 150 pixels over a square of side 150 s - 1 centred on the template centre's image. With s = 299 / 150
  # the pixel step is exactly 2 and the first pixel is at centre - 149.
  _, template = chips.chip_template(5, size=150, padding=0.25)
  scale, shift = 299 / 150, np.array([10.0, 20.0])
  grid = chips.chip_sampling_grid((template * scale + shift)[None], 150, 0.25)[0]
  centre = scale * 75 + shift
  np.testing.assert_allclose(grid[0, 0], centre - 149, atol=1e-4)
  np.testing.assert_allclose(grid[149, 149], centre + 149, atol=1e-4)
  np.testing.assert_allclose(grid[3, 5] - grid[0, 0], (10.0, 6.0), atol=1e-4)  # (x, y) steps of 2 px


@pytest.mark.parametrize("name", ["shape_predictor_5_face_landmarks.dat", "shape_predictor_68_face_landmarks.dat"])
def test_chips_equal_dlibs(name, models_dir, dlib, astronaut):
  predictor = dlib.shape_predictor(f"{models_dir}/{name}")
  shapes = [predictor(astronaut, dlib.rectangle(*box)) for box in [(170, 60, 280, 170), (150, 40, 300, 200)]]
  landmarks = np.array([[(p.x, p.y) for p in s.parts()] for s in shapes], np.float64)
  ours = chips.extract_chips(astronaut, landmarks)
  for shape, chip in zip(shapes, ours):
    theirs = dlib.get_face_chip(astronaut, shape, size=150, padding=0.25)
    difference = np.abs(chip.astype(int) - theirs)
    assert difference.max() <= 1 and (difference == 0).mean() > 0.999


def test_bad_inputs():
  with pytest.raises(ValueError, match="5 or 68 landmarks"):
    chips.extract_chips(np.zeros((50, 50, 3), np.uint8), np.zeros((1, 7, 2)))
  with pytest.raises(ValueError, match="RGB uint8"):
    chips.extract_chips(np.zeros((50, 50, 3), np.float32), np.zeros((1, 5, 2)))


def test_big_faces_go_through_dlibs_pyramid(models_dir, dlib, astronaut):
  from skimage import transform
  big = (transform.resize(astronaut, (1536, 1536), order=1) * 255).astype(np.uint8)  # Face ~330 px wide.
  predictor = dlib.shape_predictor(f"{models_dir}/shape_predictor_5_face_landmarks.dat")
  shape = predictor(big, dlib.rectangle(510, 180, 840, 510))
  landmarks = np.array([[(p.x, p.y) for p in shape.parts()]], np.float64)
  (angle, rect), = chips.chip_rectangles(landmarks)
  assert chips._area(chips._rect_down(rect)) > 150 * 150  # Really on the pyramid path.
  difference = np.abs(chips.extract_chips(big, landmarks)[0].astype(int) - dlib.get_face_chip(big, shape))
  assert difference.max() <= 1 and (difference == 0).mean() > 0.999


def test_pyramid_down_by_hand():
  image = np.zeros((11, 9, 3), np.uint8)
  image[5, 4] = 255  # One bright pixel; the output (4 x 3) is centred on input pixels 2 + 2k.
  out = chips.pyramid_down_2(image)
  assert out.shape == (4, 3, 3)
  # Output (1, 1) sits on input (4, 4): the pixel is one row below -> weights 4 (rows) * 6 (cols) / 256.
  assert out[1, 1, 0] == 255 * 4 * 6 // 256
  assert out[2, 1, 0] == 255 * 4 * 6 // 256 and out[0, 0, 0] == 0
