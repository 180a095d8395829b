"""Operating-point calibration: each pathology's decision threshold mapped to probability 0.5.

torchxrayvision models carry ``op_threshs``, one operating point per pathology, and rescale outputs
piecewise-linearly so that the operating point lands on 0.5: ``p < t`` -> ``p / (2 t)``, else
``1 - (1 - p) / (2 (1 - t))`` (monotone, 0 -> 0, t -> 0.5, 1 -> 1), which makes ``> 0.5`` the decision
for every pathology. ``fit_operating_points`` picks each threshold on held-out data as the point of the ROC
curve that maximizes Youden's J = TPR - FPR (Youden 1950); NaN labels are left out per pathology.
"""

from __future__ import annotations

import numpy as np


def fit_operating_points(scores, labels) -> np.ndarray:
  """Scores [N, L] in [0, 1] and labels [N, L] (0, 1 or NaN) -> thresholds float32 [L] (NaN where a
  pathology lacks positives or negatives)."""
  scores, labels = np.asarray(scores, np.float64), np.asarray(labels, np.float64)
  if scores.shape != labels.shape or scores.ndim != 2:
    raise ValueError(f"scores {scores.shape} and labels {labels.shape} must both be [N, L]")
  thresholds = np.full(scores.shape[1], np.nan, np.float32)
  for j in range(scores.shape[1]):
    keep = ~np.isnan(labels[:, j])
    s, y = scores[keep, j], labels[keep, j]
    if not np.isin(y, (0.0, 1.0)).all():
      raise ValueError(f"labels of column {j} must be 0, 1 or NaN; got {np.unique(y)}")
    num_pos, num_neg = y.sum(), (1 - y).sum()
    if num_pos == 0 or num_neg == 0:
      continue
    candidates = np.unique(s)  # Predict positive when score >= candidate.
    tpr = np.array([(s[y == 1] >= c).sum() for c in candidates]) / num_pos
    fpr = np.array([(s[y == 0] >= c).sum() for c in candidates]) / num_neg
    thresholds[j] = candidates[np.argmax(tpr - fpr)]
  return thresholds


def apply_operating_points(probabilities, thresholds) -> np.ndarray:
  """Probabilities [..., L] rescaled so that each pathology's threshold maps to 0.5 (NaN thresholds leave
  that pathology unchanged)."""
  p = np.asarray(probabilities, np.float64)
  t = np.asarray(thresholds, np.float64)
  if p.shape[-1] != t.shape[-1]:
    raise ValueError(f"{p.shape[-1]} pathologies in probabilities but {t.shape[-1]} thresholds")
  if np.any((t <= 0) | (t >= 1)):
    raise ValueError(f"thresholds must be in (0, 1); got {t}")
  if np.any((p < 0) | (p > 1)) or np.isnan(p).any():
    raise ValueError("probabilities must be in [0, 1] (apply a sigmoid to logits first)")
  safe_t = np.where(np.isnan(t), 0.5, t)
  below = p / (2 * safe_t)
  above = 1 - (1 - p) / (2 * (1 - safe_t))
  out = np.where(p < safe_t, below, above)
  return np.where(np.isnan(t), p, out).astype(np.float32)
