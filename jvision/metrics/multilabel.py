"""Multi-label metrics: per-label ROC AUC and PR AUC (average precision), and their streaming evaluator.

``roc_auc`` is the Mann-Whitney statistic (Hanley & McNeil 1982): the probability that a random positive
scores above a random negative, ties counting one half, computed from average ranks; it equals
scikit-learn's ``roc_auc_score``. ``average_precision`` is the step-wise area under the precision-recall
curve, ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds (scikit-learn's
``average_precision_score``). Labels that are NaN (unlabelled) or masked out are left out per label.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  scores = np.asarray(scores, np.float64).reshape(-1)
  labels = np.asarray(labels, np.float64).reshape(-1)
  if scores.shape != labels.shape:
    raise ValueError(f"scores has {scores.size} values but labels has {labels.size}")
  if not np.isfinite(scores).all():
    raise ValueError("scores contain NaN or infinite values")
  if not np.isin(labels, (0.0, 1.0)).all():
    raise ValueError(f"labels must be 0 or 1 here; got {np.unique(labels)}")
  return scores, labels


def roc_auc(scores, labels) -> float:
  """ROC AUC of ``scores`` [N] for binary ``labels`` [N]; NaN when only one class is present."""
  from scipy import stats

  scores, labels = _check(scores, labels)
  positives = labels == 1
  num_pos, num_neg = int(positives.sum()), int((~positives).sum())
  if num_pos == 0 or num_neg == 0:
    return float("nan")
  ranks = stats.rankdata(scores)  # Average ranks: ties count one half.
  return float((ranks[positives].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


def average_precision(scores, labels) -> float:
  """Area under the precision-recall curve of ``scores`` [N]; NaN without positives."""
  scores, labels = _check(scores, labels)
  num_pos = labels.sum()
  if num_pos == 0:
    return float("nan")
  order = np.argsort(-scores, kind="stable")
  scores, labels = scores[order], labels[order]
  true_pos = np.cumsum(labels)
  # Only the last position of each run of tied scores is a threshold.
  last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
  precision = true_pos[last] / (last + 1)
  recall = true_pos[last] / num_pos
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_label(metric, scores, labels, mask: Optional[np.ndarray] = None) -> np.ndarray:
  """``metric`` per column of ``scores``/``labels`` [N, L], skipping NaN labels and rows where ``mask`` is 0."""
  scores, labels = np.asarray(scores), np.asarray(labels, np.float64)
  if scores.shape != labels.shape or scores.ndim != 2:
    raise ValueError(f"scores {scores.shape} and labels {labels.shape} must both be [N, L]")
  valid_rows = np.ones(len(labels), bool) if mask is None else np.asarray(mask).astype(bool).reshape(-1)
  values = []
  for j in range(labels.shape[1]):
    keep = valid_rows & ~np.isnan(labels[:, j])
    values.append(metric(scores[keep, j], labels[keep, j]))
  return np.array(values)


class MultiLabelAUCEvaluator:
  """Collects ``{"scores": [B, L], "labels": [B, L], "mask": [B]}`` batches; ``result()`` gives
  ``auc/<name>``, ``mean_auc`` and ``mean_pr_auc`` (means over the labels where the metric is defined)."""

  def __init__(self, names: Sequence[str]):
    self.names = tuple(names)
    self._scores, self._labels, self._masks = [], [], []

  def add(self, outputs: Mapping[str, np.ndarray]) -> None:
    for key in ("scores", "labels", "mask"):
      if key not in outputs:
        raise KeyError(f"MultiLabelAUCEvaluator needs {key!r}; got: {', '.join(outputs)}")
    scores = np.asarray(outputs["scores"], np.float64)
    if scores.shape[-1] != len(self.names):
      raise ValueError(f"scores have {scores.shape[-1]} labels; expected {len(self.names)} ({self.names})")
    self._scores.append(scores)
    self._labels.append(np.asarray(outputs["labels"], np.float64))
    self._masks.append(np.asarray(outputs["mask"]).astype(bool))

  def result(self) -> dict[str, float]:
    scores, labels, mask = (np.concatenate(x) for x in (self._scores, self._labels, self._masks))
    aucs = per_label(roc_auc, scores, labels, mask)
    pr_aucs = per_label(average_precision, scores, labels, mask)
    result = {f"auc/{name}": float(value) for name, value in zip(self.names, aucs)}
    result["mean_auc"] = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")
    result["mean_pr_auc"] = float(np.nanmean(pr_aucs)) if np.isfinite(pr_aucs).any() else float("nan")
    return result
