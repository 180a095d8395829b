"""The embedded digits dataset against scikit-learn's own copy."""

import numpy as np
from sklearn import datasets

from jvision import data
from jvision.data import digits


def test_splits_sizes_and_stratification():
  train = data.data_source("digits", "train")
  test = data.data_source("digits", "test")
  assert (len(train), len(test)) == (1437, 360)
  # Stratified: each class's share of the test split is within one image of its share of the whole set.
  test_labels = np.array([test[i]["label"] for i in range(len(test))])
  all_counts = np.bincount(datasets.load_digits().target)
  assert np.all(np.abs(np.bincount(test_labels) - all_counts * 360 / 1797) <= 1)
  train_ids = {int(train[i]["id"]) for i in range(len(train))}
  test_ids = {int(test[i]["id"]) for i in range(len(test))}
  assert not train_ids & test_ids and len(train_ids | test_ids) == 1797


def test_pixels_and_labels_match_sklearn():
  bunch = datasets.load_digits()
  test = data.data_source("digits", "test")
  for i in (0, 17, 359):
    example = test[i]
    index = int(example["id"])
    assert example["image"].shape == (8, 8, 1) and example["image"].dtype == np.uint8
    expected = np.round(bunch.images[index] * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(example["image"][..., 0], expected)
    assert example["label"] == bunch.target[index]


def test_unknown_split_is_a_clear_error():
  try:
    digits.digits_arrays("validation")
  except ValueError as e:
    assert "unknown digits split 'validation'" in str(e)
  else:
    raise AssertionError("expected ValueError")


def test_unprepared_standard_dataset_names_the_fix(tmp_path):
  try:
    data.data_source("cifar10", "train", data_dir=str(tmp_path))
  except FileNotFoundError as e:
    assert "cifar10" in str(e) and "tfds build" in str(e)
  else:
    raise AssertionError("expected FileNotFoundError")
