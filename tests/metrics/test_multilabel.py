"""Per-label ROC AUC and average precision against scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

from jvision.metrics import multilabel


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_and_average_precision_equal_sklearn_with_ties(seed):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, 200).astype(float)
  scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # Rounded: many ties.
  assert multilabel.roc_auc(scores, labels) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
  assert multilabel.average_precision(scores, labels) == pytest.approx(
      skm.average_precision_score(labels, scores), abs=1e-12)


def test_hand_values_and_undefined_cases():
  # Positives 0.8, 0.4; negatives 0.5, 0.1: 3 of 4 pairs ordered -> 0.75.
  assert multilabel.roc_auc([0.8, 0.5, 0.4, 0.1], [1, 0, 1, 0]) == 0.75
  # Ranking 1, 0, 1, 0: precision 1 at recall 0.5, 2/3 at recall 1 -> 0.5 + 0.5 * 2/3.
  assert multilabel.average_precision([0.8, 0.5, 0.4, 0.1], [1, 0, 1, 0]) == pytest.approx(0.5 + 1 / 3)
  assert np.isnan(multilabel.roc_auc([0.1, 0.2], [1, 1]))
  with pytest.raises(ValueError, match="NaN"):
    multilabel.roc_auc([np.nan, 0.2], [1, 0])
  with pytest.raises(ValueError, match="0 or 1"):
    multilabel.roc_auc([0.1, 0.2], [-1, 0])


def test_evaluator_skips_nan_labels_and_padding():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, (60, 3)).astype(float)
  scores = rng.random((60, 3)) + 0.3 * labels
  labels[::7, 1] = np.nan
  mask = np.ones(60, bool)
  mask[-5:] = False
  evaluator = multilabel.MultiLabelAUCEvaluator(["a", "b", "c"])
  for start in range(0, 60, 16):
    evaluator.add({"scores": scores[start:start + 16], "labels": labels[start:start + 16],
                   "mask": mask[start:start + 16]})
  result = evaluator.result()
  expected = []
  for j, name in enumerate("abc"):
    keep = mask & ~np.isnan(labels[:, j])
    expected.append(skm.roc_auc_score(labels[keep, j], scores[keep, j]))
    assert result[f"auc/{name}"] == pytest.approx(expected[-1], abs=1e-12)
  assert result["mean_auc"] == pytest.approx(np.mean(expected), abs=1e-12)
  keep = mask[:, None] & ~np.isnan(labels)
  assert result["mean_pr_auc"] == pytest.approx(np.mean(
      [skm.average_precision_score(labels[keep[:, j], j], scores[keep[:, j], j]) for j in range(3)]), abs=1e-12)
