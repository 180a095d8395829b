"""Segmentation metrics: a per-batch confusion matrix with its streaming accumulator (mean IoU, pixel accuracy),
and the per-image, per-class ``get_stats`` + score functions of segmentation_models.pytorch.

``confusion_matrix`` runs under jit on padded batches (a validity ``mask`` per image and an ``ignore_index``
label); ``ConfusionMatrixEvaluator`` sums those matrices on the host and divides once at the end, so the
dataset mIoU does not depend on how the data was batched. IoU of class c is ``tp / (tp + fp + fn)``
(Long et al., "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015, sec. 5); classes that
never occur in either prediction or target are left out of the mean.

``get_stats`` and the scores (``iou_score``, ``f1_score``, ...) follow the definitions and reductions of
segmentation_models.pytorch's ``metrics.functional`` (re-derived here in numpy-free jnp, not copied).
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax.numpy as jnp
import numpy as np


def confusion_matrix(predictions: jnp.ndarray, targets: jnp.ndarray, num_classes: int,
                     mask: Optional[jnp.ndarray] = None, ignore_index: Optional[int] = 255) -> jnp.ndarray:
  """Counts ``[num_classes, num_classes]`` (row: target class, column: predicted class), float32.

  Args:
    predictions: int ``[B, H, W]`` predicted classes.
    targets: int ``[B, H, W]`` target classes; pixels equal to ``ignore_index`` are not counted.
    mask: bool ``[B]`` valid images (padding of the last batch), or None for all.
  """
  if predictions.shape != targets.shape:
    raise ValueError(f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} differ")
  targets = targets.astype(jnp.int32)
  predictions = predictions.astype(jnp.int32)
  weights = jnp.ones(targets.shape, jnp.float32)
  if ignore_index is not None:
    weights = weights * (targets != ignore_index)
  if mask is not None:
    weights = weights * mask.reshape((-1,) + (1,) * (targets.ndim - 1)).astype(jnp.float32)
  # Out-of-range targets (other than ignore_index) have no row: they are dropped rather than wrapped.
  weights = weights * ((targets >= 0) & (targets < num_classes))
  index = jnp.clip(targets, 0, num_classes - 1) * num_classes + jnp.clip(predictions, 0, num_classes - 1)
  counts = jnp.zeros((num_classes * num_classes,), jnp.float32).at[index.reshape(-1)].add(weights.reshape(-1))
  return counts.reshape(num_classes, num_classes)


def scores_from_confusion(confusion: np.ndarray) -> dict[str, float]:
  """mean IoU (over classes present in target or prediction), pixel accuracy and IoU per class."""
  confusion = np.asarray(confusion, np.float64)
  true_positive = np.diag(confusion)
  union = confusion.sum(0) + confusion.sum(1) - true_positive
  present = union > 0
  iou = np.where(present, true_positive / np.maximum(union, 1), np.nan)
  total = confusion.sum()
  out = {
      "miou": float(np.mean(iou[present])) if present.any() else float("nan"),
      "pixel_accuracy": float(true_positive.sum() / total) if total > 0 else float("nan"),
  }
  for c, value in enumerate(iou):
    out[f"iou/class_{c}"] = float(value)
  return out


class ConfusionMatrixEvaluator:
  """Streaming mIoU and pixel accuracy: ``add({"confusion": [K, K], ...sums, "count"})``, ``result()``.

  Other entries of the added dicts are sums divided by the summed ``count`` (e.g. the eval loss).
  """

  def __init__(self):
    self.confusion = None
    self.sums: dict[str, float] = {}

  def add(self, outputs: dict) -> None:
    confusion = np.asarray(outputs["confusion"], np.float64)
    if self.confusion is None:
      self.confusion = np.zeros_like(confusion)
    if confusion.shape != self.confusion.shape:
      raise ValueError(f"confusion matrix {confusion.shape} does not match earlier {self.confusion.shape}")
    self.confusion += confusion
    for name, value in outputs.items():
      if name != "confusion":
        self.sums[name] = self.sums.get(name, 0.0) + float(value)

  def result(self) -> dict[str, float]:
    if self.confusion is None:
      raise ValueError("ConfusionMatrixEvaluator.result() called before any add()")
    out = scores_from_confusion(self.confusion)
    count = self.sums.get("count", 0.0)
    for name, value in self.sums.items():
      if name != "count":
        out[name] = value / count if count else float("nan")
    return out
