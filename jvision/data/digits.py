"""`digits`: scikit-learn's real handwritten digits (UCI optdigits test set) as a TFDS dataset.

1,797 grey-scale 8x8 images of the digits 0-9 written by 43 people, shipped inside scikit-learn, so the
dataset builds with no download. Pixel counts 0..16 are rescaled to uint8 0..255 (``round(v * 255 / 16)``).

Split (fixed, documented): a stratified split with ``sklearn.model_selection.train_test_split(test_size=360,
random_state=0, stratify=labels)`` — ``train``: 1,437 images, ``test``: 360 images (each class in proportion, within one image).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

NUM_TEST = 360
SPLIT_SEED = 0


def digits_arrays(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Returns ``(images uint8 [N, 8, 8, 1], labels int64 [N], ids int64 [N])`` of a split."""
  from sklearn import datasets, model_selection

  bunch = datasets.load_digits()
  images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  labels = bunch.target.astype(np.int64)
  ids = np.arange(len(labels))
  train_ids, test_ids = model_selection.train_test_split(
      ids, test_size=NUM_TEST, random_state=SPLIT_SEED, stratify=labels)
  if split not in ("train", "test"):
    raise ValueError(f"unknown digits split {split!r}; known: train, test")
  chosen = np.sort(train_ids if split == "train" else test_ids)
  return images[chosen], labels[chosen], chosen


class Digits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's handwritten digits, 8x8x1 uint8, 10 classes."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Stratified 1437/360 split of sklearn.datasets.load_digits()."}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
            "id": np.int64,
        }),
        supervised_keys=("image", "label"),
        homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything ships with scikit-learn.
    return {"train": self._generate_examples("train"), "test": self._generate_examples("test")}

  def _generate_examples(self, split):
    images, labels, ids = digits_arrays(split)
    for image, label, index in zip(images, labels, ids):
      yield int(index), {"image": image, "label": int(label), "id": int(index)}
