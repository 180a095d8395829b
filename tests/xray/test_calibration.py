"""Operating points: Youden's J against scikit-learn's ROC curve, and the threshold -> 0.5 mapping."""

import numpy as np
import pytest
from sklearn import metrics as skm

from jvision.xray import calibration


def test_fit_operating_points_matches_sklearn_roc_curve():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, (300, 3)).astype(float)
  scores = 1 / (1 + np.exp(-rng.normal(labels * 1.5 - 0.5, 1.0)))
  labels[::5, 2] = np.nan
  thresholds = calibration.fit_operating_points(scores, labels)
  for j in range(3):
    keep = ~np.isnan(labels[:, j])
    fpr, tpr, cut = skm.roc_curve(labels[keep, j], scores[keep, j])
    assert thresholds[j] == pytest.approx(cut[np.argmax(tpr - fpr)], abs=1e-6)
  assert np.isnan(calibration.fit_operating_points(np.ones((4, 1)) * 0.3, np.ones((4, 1))))[0]


def test_apply_operating_points_hand_values():
  thresholds = np.array([0.2, 0.8, np.nan])
  p = np.array([[0.1, 0.4, 0.3], [0.2, 0.8, 0.9], [0.6, 0.9, 1.0]])
  out = calibration.apply_operating_points(p, thresholds)
  np.testing.assert_allclose(out[:, 0], [0.25, 0.5, 1 - 0.4 / 1.6], rtol=1e-6)
  np.testing.assert_allclose(out[:, 1], [0.25, 0.5, 1 - 0.1 / 0.4], rtol=1e-6)
  np.testing.assert_allclose(out[:, 2], p[:, 2], rtol=1e-6)
  with pytest.raises(ValueError, match=r"in \[0, 1\]"):
    calibration.apply_operating_points([[2.0, 0.1, 0.1]], thresholds)
  with pytest.raises(ValueError, match="thresholds must be in"):
    calibration.apply_operating_points([[0.5]], [1.0])
