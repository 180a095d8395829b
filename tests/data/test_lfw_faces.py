"""The embedded LFW face / non-face dataset against scikit-image's own copy."""

import numpy as np
import pytest
from skimage import data as skdata

from jvision import data
from jvision.data import lfw_faces


def test_splits_balance_and_pixels():
  train = data.data_source("lfw_faces", "train")
  test = data.data_source("lfw_faces", "test")
  assert (len(train), len(test)) == (150, 50)
  test_labels = np.array([test[i]["label"] for i in range(len(test))])
  assert np.bincount(test_labels).tolist() == [25, 25]
  ids = {int(s[i]["id"]) for s in (train, test) for i in range(len(s))}
  assert ids == set(range(200))
  patches = skdata.lfw_subset()
  for i in (0, 49):
    example = test[i]
    index = int(example["id"])
    assert example["image"].shape == (25, 25, 1) and example["image"].dtype == np.uint8
    np.testing.assert_array_equal(example["image"][..., 0], np.round(patches[index] * 255).astype(np.uint8))
    assert example["label"] == (1 if index < 100 else 0)  # scikit-image lists the 100 faces first.


def test_unknown_split():
  with pytest.raises(ValueError, match="unknown lfw_faces split 'validation'"):
    lfw_faces.lfw_faces_arrays("validation")


def test_experiment_config_loads():
  import os
  from jvision import config as config_lib
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  config = config_lib.load_config(os.path.join(repo, "experiments", "face_detector_lfw.py"))
  assert (config.data.name, config.model.num_classes, config.task.num_classes) == ("lfw_faces", 2, 2)
