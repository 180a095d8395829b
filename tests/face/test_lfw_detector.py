"""The sliding-window detector around a 25x25 classifier: pyramid, window-to-box mapping and NMS by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from jvision.face import lfw_detector


class BrightnessClassifier(nn.Module):
  """A stand-in classifier: 'face' logit grows with the window's mean (normalized) brightness."""

  @nn.compact
  def __call__(self, x, train=False):
    mean = jnp.mean(x, axis=(1, 2, 3))
    return jnp.stack([jnp.zeros_like(mean), 80.0 * (mean - 0.95)], axis=-1)


def test_finds_a_bright_square_by_hand():
  detector = lfw_detector.LfwFaceDetector(BrightnessClassifier(), {}, mean=0.0, std=1.0, threshold=0.5)
  image = np.zeros((1, 60, 90, 3), np.uint8)
  image[0, 20:45, 40:65] = 255  # A 25x25 white square at x=40, y=20: exactly one stride-4 window covers it.
  assert detector(image) == [[(40, 20, 64, 44)]]
  # Pyramid: sides times (5/6)^k, rounded, until one drops below 25: 60x84 -> 50x70 -> 41.7x58.3 -> 34.7x48.6
  # -> 28.9x40.5 -> 24.1 (stop).
  assert [(r, c) for _, r, c in detector.levels(60, 84)] == [(60, 84), (50, 70), (42, 58), (35, 49), (29, 41)]


def test_nms_keeps_the_best_of_overlapping_boxes():
  boxes = np.array([[0, 0, 24, 24], [2, 2, 26, 26], [50, 50, 74, 74]])
  assert lfw_detector._nms(boxes, np.array([0.7, 0.9, 0.8]), 0.3) == [1, 2]


def test_missing_workdir_names_the_fix(monkeypatch):
  monkeypatch.delenv("JVISION_FACE_HOG_WORKDIR", raising=False)
  with pytest.raises(FileNotFoundError, match="experiments/face_detector_lfw.py"):
    lfw_detector.load_lfw_detector()


def test_bad_input():
  detector = lfw_detector.LfwFaceDetector(BrightnessClassifier(), {}, mean=0.0, std=1.0)
  with pytest.raises(ValueError, match="RGB uint8"):
    detector(np.zeros((1, 30, 30), np.uint8))


@pytest.mark.heavy
def test_trained_workdir_drives_model_hog(tmp_path, monkeypatch, lfw_photos):
  """Two training steps of experiments/face_detector_lfw.py, then face_locations(model='hog') restores them."""
  import os
  from jvision import config as config_lib, train
  import jvision.face as jf
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  config_path = os.path.join(repo, "experiments", "face_detector_lfw.py")
  config = config_lib.load_config(config_path, ["total_steps=2", "log_every_steps=1", "eval_every_steps=2",
                                                "checkpoint_every_steps=2", "schedule.warmup_steps=0"])
  train.train_and_evaluate(config, str(tmp_path), config_path=config_path, devices=jax.devices()[:1],
                           progress=False)
  monkeypatch.setenv("JVISION_FACE_HOG_WORKDIR", str(tmp_path))
  jf._lfw_detector.cache_clear()
  try:
    boxes = jf.face_locations(lfw_photos[0], number_of_times_to_upsample=0, model="hog")
  finally:
    jf._lfw_detector.cache_clear()
  assert all(len(b) == 4 and b[0] <= b[2] and b[3] <= b[1] for b in boxes)  # (top, right, bottom, left)
