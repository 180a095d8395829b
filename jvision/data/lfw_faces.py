"""`lfw_faces`: scikit-image's LFW subset as a face / non-face TFDS dataset (embedded, no download).

``skimage.data.lfw_subset()`` ships 200 grey 25x25 patches: 100 faces cropped from Labeled Faces in the Wild
(Huang et al., 2007) and 100 non-face patches of natural images, as used to train Viola-Jones style
detectors. Values in [0, 1] are stored as uint8 ``round(v * 255)``; label 1 = face, 0 = not a face.

Split (fixed, documented): ``sklearn.model_selection.train_test_split(test_size=50, random_state=0,
stratify=labels)`` — ``train``: 150 patches, ``test``: 50 (25 faces, 25 non-faces).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

NUM_TEST = 50
SPLIT_SEED = 0
PATCH_SIZE = 25


def lfw_faces_arrays(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Returns ``(images uint8 [N, 25, 25, 1], labels int64 [N], ids int64 [N])`` of a split."""
  from skimage import data
  from sklearn import model_selection

  if split not in ("train", "test"):
    raise ValueError(f"unknown lfw_faces split {split!r}; known: train, test")
  patches = data.lfw_subset()
  images = np.round(patches * 255.0).astype(np.uint8)[..., None]
  labels = np.array([1] * 100 + [0] * 100, np.int64)  # scikit-image lists the 100 faces first.
  ids = np.arange(len(labels))
  train_ids, test_ids = model_selection.train_test_split(
      ids, test_size=NUM_TEST, random_state=SPLIT_SEED, stratify=labels)
  chosen = np.sort(train_ids if split == "train" else test_ids)
  return images[chosen], labels[chosen], chosen


class LfwFaces(tfds.core.GeneratorBasedBuilder):
  """scikit-image's LFW subset: 25x25x1 uint8 patches, face (1) or not (0)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Stratified 150/50 split of skimage.data.lfw_subset()."}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(PATCH_SIZE, PATCH_SIZE, 1)),
            "label": tfds.features.ClassLabel(names=["not_face", "face"]),
            "id": np.int64,
        }),
        supervised_keys=("image", "label"),
        homepage="https://scikit-image.org/docs/stable/api/skimage.data.html#skimage.data.lfw_subset",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything ships with scikit-image.
    return {"train": self._generate_examples("train"), "test": self._generate_examples("test")}

  def _generate_examples(self, split):
    images, labels, ids = lfw_faces_arrays(split)
    for image, label, index in zip(images, labels, ids):
      yield int(index), {"image": image, "label": int(label), "id": int(index)}
