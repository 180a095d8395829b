"""Face descriptors: dlib's ResNet in JAX against dlib's own descriptors of the same chips."""

import numpy as np
import pytest

from jvision.face import encoder as encoder_lib


@pytest.fixture(scope="module")
def encoder(models_dir):
  import jvision.face
  return jvision.face._encoder()


@pytest.fixture(scope="module")
def chips(dlib, models_dir, astronaut, lfw_photos):
  predictor = dlib.shape_predictor(f"{models_dir}/shape_predictor_5_face_landmarks.dat")
  out = [dlib.get_face_chip(astronaut, predictor(astronaut, dlib.rectangle(170, 60, 280, 170)))]
  for photo in lfw_photos[:2]:
    out.append(dlib.get_face_chip(photo, predictor(photo, dlib.rectangle(45, 45, 195, 195))))
  return np.stack(out)


def test_descriptors_equal_dlibs(encoder, chips, dlib, models_dir):
  reference = dlib.face_recognition_model_v1(f"{models_dir}/dlib_face_recognition_resnet_model_v1.dat")
  ours = encoder(chips)
  assert ours.shape == (3, 128) and ours.dtype == np.float64
  for chip, descriptor in zip(chips, ours):
    theirs = np.array(reference.compute_face_descriptor(chip))
    assert np.linalg.norm(descriptor - theirs) <= 0.01  # Measured: ~1e-6.


def test_jitter_averages_nearby_descriptors(encoder, chips):
  plain = encoder(chips[:1])
  jittered = encoder(chips[:1], num_jitters=3, seed=0)
  assert jittered.shape == (1, 128)
  assert 0 < np.linalg.norm(jittered - plain) < 0.2  # Same person by a wide margin (threshold 0.6).
  copies = encoder_lib.jitter_chips(chips[:1], 2, np.random.default_rng(0))
  assert copies.shape == (1, 2, 150, 150, 3)


def test_bad_chips(encoder):
  with pytest.raises(ValueError, match=r"\[N, 150, 150, 3\]"):
    encoder(np.zeros((1, 100, 100, 3), np.uint8))
  with pytest.raises(ValueError, match="num_jitters"):
    encoder(np.zeros((1, 150, 150, 3), np.uint8), num_jitters=0)
  assert encoder(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
