"""Tests for jvision/models/preprocessing.py against Keras's own preprocess_input."""

import chex
import numpy as np
import pytest

from jvision.models import preprocessing

imagenet_utils = pytest.importorskip("keras.applications.imagenet_utils")


@pytest.mark.parametrize("mode", ["caffe", "torch", "tf"])
def test_matches_keras_preprocess_input(mode):
  x = np.random.RandomState(0).uniform(0, 255, (2, 4, 5, 3)).astype(np.float32)
  expected = imagenet_utils.preprocess_input(x.copy(), mode=mode)
  chex.assert_trees_all_close(getattr(preprocessing, mode)(x), expected, atol=1e-4)


def test_caffe_by_hand_and_channel_check():
  pixel = np.array([[[[10.0, 20.0, 30.0]]]])
  expected = np.array([30 - 103.939, 20 - 116.779, 10 - 123.68])
  chex.assert_trees_all_close(preprocessing.caffe(pixel)[0, 0, 0], expected, atol=1e-4)
  with pytest.raises(ValueError, match="RGB"):
    preprocessing.torch(np.zeros((1, 4, 4, 1)))
