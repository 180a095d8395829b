"""The printed-digits source dataset: optdigits' format, balanced labels, and images that real digits resemble."""

import numpy as np
import pytest
from sklearn import datasets, neighbors

from jvision.data import digits, printed_digits


def test_a_classifier_of_renderings_reads_real_handwritten_digits():
  """The renderings are digits in optdigits' layout: 3-NN fitted on 1,000 of them reads scikit-learn's real
  handwritten digits at over 0.45 accuracy (chance 0.1; measured 0.58). Upright orientation and label order
  matter: the same classifier reads the real digits transposed at 0.15 and upside down at 0.35."""
  rng = np.random.default_rng(0)
  labels = np.arange(1000) % 10
  renders = np.stack([printed_digits.render(int(d), rng) for d in labels]).reshape(1000, 64)
  real = datasets.load_digits()
  knn = neighbors.KNeighborsClassifier(3).fit(renders, labels)
  assert (knn.predict(real.data) == real.target).mean() > 0.45
  assert (knn.predict(real.images.transpose(0, 2, 1).reshape(-1, 64)) == real.target).mean() < 0.3


def test_render_is_an_8x8_block_count_whose_glyph_fills_the_height():
  rng = np.random.default_rng(1)
  for digit in range(10):
    counts = printed_digits.render(digit, rng)
    assert counts.shape == (8, 8) and counts.min() >= 0 and counts.max() <= 16
    # Scaled to the 32 px bitmap's height: ink in the top and the bottom block rows.
    assert counts[0].sum() > 0 and counts[-1].sum() > 0
  with pytest.raises(ValueError, match="digit must be in 0..9, got 10"):
    printed_digits.render(10, rng)


def test_builder_has_digits_features_balanced_labels_and_fixed_renderings(tmp_path):
  config = printed_digits.PrintedDigitsConfig(name="tiny", num_train=30, num_test=10, seed=3)
  builder = printed_digits.PrintedDigits(config=config, data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare(file_format="array_record")
  real = digits.Digits(data_dir=str(tmp_path / "digits"))
  assert repr(builder.info.features) == repr(real.info.features)  # A config for one reads the other.
  train, test = (builder.as_data_source(split=s) for s in ("train", "test"))
  assert (len(train), len(test)) == (30, 10)
  # TFDS shuffles the records when it writes them; ``id`` is the order in which they were rendered.
  records = sorted((train[i] for i in range(30)), key=lambda r: int(r["id"]))
  assert [int(r["id"]) for r in records] == list(range(30))
  images = np.stack([r["image"] for r in records])
  assert images.shape == (30, 8, 8, 1) and images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount([r["label"] for r in records]), np.full(10, 3))
  # The stored pixels are the block counts rescaled as `digits` rescales them, from the seed's stream.
  rng = np.random.default_rng([3, 0])
  for i in range(3):
    expected = np.round(printed_digits.render(i % 10, rng) * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(images[i, ..., 0], expected)
  # The test split is another stream: its renderings differ from train's.
  first_test = next(test[i] for i in range(10) if int(test[i]["id"]) == 0)
  assert np.any(first_test["image"] != images[0])
