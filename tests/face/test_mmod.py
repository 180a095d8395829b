"""dlib's CNN face detector in JAX: pyramid layout and resizing by hand and vs dlib, boxes vs dlib's."""

import numpy as np
import pytest

from jvision.face import mmod


def test_tiled_pyramid_layout_by_hand():
  rects, (rows, cols) = mmod.tiled_pyramid_layout(100, 100)
  sizes = [(r - l + 1, b - t + 1) for l, t, r, b in rects]
  # floor(5/6 * side) until the height drops below 5: 100, 83, 69, 57, 47, 39, 32, 26, 21, 17, 14, 11, 9, 7, 5.
  assert [w for w, _ in sizes] == [100, 83, 69, 57, 47, 39, 32, 26, 21, 17, 14, 11, 9, 7, 5]
  assert rects[0] == (11, 11, 110, 110) and cols == 100 + 2 * 11
  assert rects[1][:2] == (11, 121)  # The second level sits below the first, 10 px apart.
  for i, a in enumerate(rects):
    assert 0 <= a[0] and 0 <= a[1] and a[2] < cols and a[3] < rows
    for b in rects[i + 1:]:  # Levels never overlap.
      assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def test_resize_matches_dlib_resize_image(dlib):
  image = np.random.default_rng(0).integers(0, 256, (37, 53, 3)).astype(np.uint8)
  ours = np.asarray(mmod.resize_bilinear(image[None].astype(np.float32), 75, 107))[0].astype(np.uint8)
  theirs = dlib.resize_image(image, 75, 107)
  difference = np.abs(ours.astype(int) - theirs)
  assert difference.max() <= 1 and (difference == 0).mean() > 0.99


def test_pyramid_up_size_by_hand():
  # dlib sizes the doubled image by the up-mapped rectangle: ((W-1) + 1.25) * 2 rounded, +1 -> 2W + 2 columns,
  # ((H-1) + 0.75) * 2 rounded, +1 -> 2H + 1 rows.
  assert mmod.pyramid_up(np.zeros((1, 7, 9, 3), np.uint8)).shape == (1, 15, 20, 3)


@pytest.fixture(scope="module")
def detector(models_dir):
  import jvision.face
  return jvision.face._cnn_detector()


def _dlib_detections(dlib, models_dir, image, upsample):
  reference = dlib.cnn_face_detection_model_v1(f"{models_dir}/mmod_human_face_detector.dat")
  return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence)
          for d in reference(image, upsample)]


def _assert_same(ours, theirs, box_iou):
  assert len(ours) == len(theirs)
  for d, (box, score) in zip(ours, theirs):
    assert box_iou((d.left, d.top, d.right, d.bottom), box) >= 0.9
    assert d.score == pytest.approx(score, abs=0.02)


def test_boxes_equal_dlibs_with_upsampling(detector, dlib, models_dir, astronaut, box_iou):
  from skimage import transform
  small = (transform.resize(astronaut, (256, 256)) * 255).astype(np.uint8)[:160, 40:200]  # Face ~50 px.
  ours = detector(small, upsample=1)[0]
  assert len(ours) == 1
  _assert_same(ours, _dlib_detections(dlib, models_dir, small, 1), box_iou)


def test_batch_of_lfw_photos_equal_dlibs(detector, dlib, models_dir, lfw_photos, box_iou):
  ours = detector(lfw_photos, upsample=0)
  assert [len(d) for d in ours] == [1, 1, 1, 1]
  for photo, dets in zip(lfw_photos, ours):
    _assert_same(dets, _dlib_detections(dlib, models_dir, photo, 0), box_iou)


def test_bad_input(detector):
  with pytest.raises(ValueError, match="RGB uint8"):
    detector(np.zeros((64, 64), np.uint8))
  with pytest.raises(ValueError, match="upsample"):
    detector(np.zeros((64, 64, 3), np.uint8), upsample=-1)
