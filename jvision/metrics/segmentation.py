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


# ----------------------------------------------------------------- segmentation_models.pytorch-style scores

STAT_MODES = ("binary", "multiclass", "multilabel")
REDUCTIONS = ("micro", "macro", "weighted", "micro-imagewise", "macro-imagewise", "weighted-imagewise", "none",
              None)


def get_stats(output: jnp.ndarray, target: jnp.ndarray, mode: str, threshold: Optional[float] = None,
              num_classes: Optional[int] = None, ignore_index: Optional[int] = None):
  """True/false positives/negatives per image and class: ``(tp, fp, fn, tn)``, each int32 ``[N, C]``.

  Layout is channels-last, like the models:
    - ``multiclass``: ``output`` and ``target`` int ``[N, ...]`` class ids (e.g. ``argmax`` of the logits);
      ``num_classes`` is required; pixels whose target is ``ignore_index`` count nowhere.
    - ``binary`` / ``multilabel``: ``output`` and ``target`` ``[N, ..., C]`` (C = 1 for binary); ``output`` is
      0/1 ints, or scores with ``threshold`` (``output >= threshold`` is positive); target pixels equal to
      ``ignore_index`` count nowhere.
  """
  if mode not in STAT_MODES:
    raise ValueError(f"unknown mode {mode!r}; known: {', '.join(STAT_MODES)}")
  if output.shape != target.shape:
    raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} must have the same shape")
  if output.ndim < 2:
    raise ValueError(f"output must have a batch axis and at least one more; got shape {tuple(output.shape)}")
  if not jnp.issubdtype(target.dtype, jnp.integer):
    raise ValueError(f"target must be an integer array; got dtype {target.dtype}")
  if mode == "multiclass":
    if num_classes is None:
      raise ValueError("get_stats in mode 'multiclass' needs num_classes")
    if threshold is not None:
      raise ValueError("threshold is for modes 'binary' and 'multilabel'; multiclass output is class ids")
    if not jnp.issubdtype(output.dtype, jnp.integer):
      raise ValueError(f"multiclass output must be integer class ids (argmax of logits); got dtype {output.dtype}")
    n = output.shape[0]
    valid = jnp.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    classes = jnp.arange(num_classes)
    pred = (output.reshape(n, -1, 1) == classes) & valid.reshape(n, -1, 1)
    true = (target.reshape(n, -1, 1) == classes) & valid.reshape(n, -1, 1)
    total = jnp.sum(valid.reshape(n, -1), axis=1, keepdims=True)
  else:
    if mode == "binary" and output.shape[-1] != 1:
      raise ValueError(f"mode 'binary' expects [N, ..., 1]; got shape {tuple(output.shape)}")
    if threshold is not None:
      output = output >= threshold
    elif not (jnp.issubdtype(output.dtype, jnp.integer) or output.dtype == jnp.bool_):
      raise ValueError(f"{mode} output of dtype {output.dtype} needs a threshold (or pass 0/1 integers)")
    n, c = output.shape[0], output.shape[-1]
    valid = jnp.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    valid = valid.reshape(n, -1, c)
    pred = (output.reshape(n, -1, c) > 0) & valid
    true = (target.reshape(n, -1, c) == 1) & valid
    total = jnp.sum(valid, axis=1)
  tp = jnp.sum(pred & true, axis=1)
  fp = jnp.sum(pred & ~true, axis=1)
  fn = jnp.sum(~pred & true, axis=1)
  tn = total - tp - fp - fn
  return tuple(x.astype(jnp.int32) for x in (tp, fp, fn, tn))


def _divide(numerator, denominator):
  return jnp.where(denominator > 0, numerator / jnp.where(denominator > 0, denominator, 1), jnp.nan)


def _fbeta(tp, fp, fn, tn, beta=1.0):
  return _divide((1 + beta**2) * tp, (1 + beta**2) * tp + beta**2 * fn + fp)


def _iou(tp, fp, fn, tn):
  return _divide(tp, tp + fp + fn)


def _accuracy(tp, fp, fn, tn):
  return _divide(tp + tn, tp + fp + fn + tn)


def _sensitivity(tp, fp, fn, tn):
  return _divide(tp, tp + fn)


def _specificity(tp, fp, fn, tn):
  return _divide(tn, tn + fp)


def _balanced_accuracy(tp, fp, fn, tn):
  return (_sensitivity(tp, fp, fn, tn) + _specificity(tp, fp, fn, tn)) / 2


def _precision(tp, fp, fn, tn):
  return _divide(tp, tp + fp)


def _zero_division(score, value):
  return jnp.where(jnp.isnan(score), value, score)


def _reduce(metric_fn, tp, fp, fn, tn, reduction, class_weights, zero_division):
  """segmentation_models.pytorch's ``_compute_metric``: where the counts are summed before the ratio."""
  if reduction not in REDUCTIONS:
    raise ValueError(f"unknown reduction {reduction!r}; known: {', '.join(map(str, REDUCTIONS))}")
  if tp.ndim != 2 or not tp.shape == fp.shape == fn.shape == tn.shape:
    raise ValueError(f"tp, fp, fn, tn must all be [N, C] (from get_stats); got {tuple(tp.shape)}, "
                     f"{tuple(fp.shape)}, {tuple(fn.shape)}, {tuple(tn.shape)}")
  if class_weights is None and reduction is not None and "weighted" in reduction:
    raise ValueError(f"reduction {reduction!r} needs class_weights")
  counts = [jnp.asarray(x, jnp.float32) for x in (tp, fp, fn, tn)]
  weights = jnp.asarray(1.0 if class_weights is None else class_weights, jnp.float32)
  if weights.ndim and weights.shape[0] != tp.shape[1]:
    raise ValueError(f"class_weights has {weights.shape[0]} values for {tp.shape[1]} classes")
  weights = weights / jnp.sum(weights)
  if reduction == "micro":
    return _zero_division(metric_fn(*[jnp.sum(x) for x in counts]), zero_division)
  if reduction in ("macro", "weighted"):
    score = _zero_division(metric_fn(*[jnp.sum(x, axis=0) for x in counts]), zero_division)
    return jnp.mean(score * weights) if reduction == "macro" else jnp.sum(score * weights)
  if reduction == "micro-imagewise":
    return jnp.mean(_zero_division(metric_fn(*[jnp.sum(x, axis=1) for x in counts]), zero_division))
  score = _zero_division(metric_fn(*counts), zero_division)
  if reduction == "macro-imagewise":
    return jnp.mean(jnp.mean(score, axis=0) * weights)
  if reduction == "weighted-imagewise":
    return jnp.sum(jnp.mean(score, axis=0) * weights)
  return score  # "none" / None: [N, C]


def _score_function(metric_fn, doc):
  def score(tp, fp, fn, tn, reduction: Optional[str] = None, class_weights: Optional[Sequence[float]] = None,
            zero_division: float = 1.0):
    return _reduce(metric_fn, tp, fp, fn, tn, reduction, class_weights, zero_division)
  score.__doc__ = (f"{doc} from ``get_stats`` counts ``[N, C]``. ``reduction``: micro (sum everything, then "
                   "the ratio), macro (per class over the dataset, then mean), weighted (per class, weighted "
                   "by the normalised class_weights), micro-/macro-/weighted-imagewise (the same per image, "
                   "then mean over images), none / None (``[N, C]``). 0/0 becomes ``zero_division``.")
  return score


iou_score = _score_function(_iou, "IoU = tp / (tp + fp + fn)")
f1_score = _score_function(_fbeta, "F1 = 2 tp / (2 tp + fp + fn)")
accuracy = _score_function(_accuracy, "accuracy = (tp + tn) / (tp + fp + fn + tn)")
balanced_accuracy = _score_function(_balanced_accuracy, "(sensitivity + specificity) / 2")
precision = _score_function(_precision, "precision = tp / (tp + fp)")
recall = _score_function(_sensitivity, "recall = tp / (tp + fn)")
sensitivity = _score_function(_sensitivity, "sensitivity = tp / (tp + fn)")
specificity = _score_function(_specificity, "specificity = tn / (tn + fp)")
positive_predictive_value = precision


def fbeta_score(tp, fp, fn, tn, beta: float = 1.0, reduction: Optional[str] = None,
                class_weights: Optional[Sequence[float]] = None, zero_division: float = 1.0):
  """F-beta = (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp); reductions as in ``iou_score``."""
  return _reduce(lambda *c: _fbeta(*c, beta=beta), tp, fp, fn, tn, reduction, class_weights, zero_division)
