"""The embedded synthetic chest X-ray dataset: a tiny TFDS build, labels, uncertainty and planted masks."""

import chex
import numpy as np
import pytest

from jvision import data
from jvision.data import xray_synthetic as xs

C, E, N, M, K = (xs.PATHOLOGIES.index(p) for p in xs.PATHOLOGIES)


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
  config = xs.XraySyntheticConfig(name="tiny", image_size=32, num_train=12, num_test=6)
  builder = xs.XraySynthetic(config=config, data_dir=str(tmp_path_factory.mktemp("xray")),
                             file_format="array_record")
  builder.download_and_prepare(file_format="array_record")
  return config, builder


def test_tfds_build_stores_the_rendered_examples(tiny_build):
  config, builder = tiny_build
  source = builder.as_data_source(split="test")
  assert len(source) == 6
  assert sorted(int(source[i]["image_id"]) for i in range(6)) == list(range(6))
  for index in (0, 5):
    stored = source[index]
    rendered = xs.render(config, "test", int(stored["image_id"]))
    chex.assert_shape(stored["image"], (32, 32, 1))
    chex.assert_shape(stored["finding_masks"], (32, 32, len(xs.PATHOLOGIES)))
    for key in ("image", "labels", "true_labels", "finding_masks", "lung_mask"):
      np.testing.assert_array_equal(stored[key], rendered[key])
  assert "xray_synthetic" in data.EMBEDDED_BUILDERS


def test_labels_uncertainty_and_masks_are_consistent():
  config = xs.XraySyntheticConfig(name="check", image_size=64)
  examples = [xs.render(config, "train", i) for i in range(300)]
  labels = np.stack([e["labels"] for e in examples])
  truth = np.stack([e["true_labels"] for e in examples])
  masks = np.stack([e["finding_masks"] for e in examples]).astype(bool)
  certain = labels != -1
  np.testing.assert_array_equal(labels[certain], truth[certain])
  assert set(np.unique(labels)) == {-1.0, 0.0, 1.0}
  # Uncertain labels: about 0.6 of a third of the positives, 0.04 of the negatives.
  expected = 0.3 * (1 / 3 * 0.6) + 0.7 * 0.04
  assert abs((labels == -1).mean() - expected) < 0.03, (labels == -1).mean()
  assert abs(truth.mean() - 0.3) < 0.04
  np.testing.assert_array_equal(masks.any(axis=(1, 2)), truth.astype(bool))
  # Cardiomegaly: heart wider than 0.32 of the image (half-width >= 0.16) vs at most 0.28 normally.
  heart_width = masks[..., C].any(axis=1).sum(-1) / 64
  assert (heart_width[truth[:, C] == 1] >= 0.30).all()
  # A nodule is a disc of radius 2.5-4 % of the image, brighter than the image average.
  nodules = np.flatnonzero(truth[:, N])
  area = masks[nodules, ..., N].sum(axis=(1, 2)) / 64**2
  assert (area > np.pi * 0.02**2).all() and (area < np.pi * 0.045**2).all()
  for i in nodules[:10]:
    image = examples[i]["image"][..., 0].astype(float)
    assert image[masks[i, ..., N]].mean() > image[examples[i]["lung_mask"][..., 0] > 0].mean()


def test_unknown_split_is_an_error():
  with pytest.raises(ValueError, match="unknown xray_synthetic split 'val'"):
    xs.render(xs.XraySyntheticConfig(name="x"), "val", 0)
