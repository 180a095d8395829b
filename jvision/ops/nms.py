"""Greedy non-maximum suppression with static output shapes.

The classic greedy NMS of the detection literature (as used by R-CNN, Girshick et al., 2014, and every
detector since): visit boxes in descending score order, keep a box unless it overlaps an already kept box by
an IoU strictly above the threshold. The semantics are those of ``torchvision.ops.nms``: a stable sort (equal
scores are visited lower index first), IoU computed as ``inter / (area_i + area_j - inter)`` and a box
suppressed when that is ``> iou_threshold``; a box with zero area never suppresses anything.

For jit, the output is always ``[max_output_size]`` int32 indices into the input, in the order they were
kept, padded with -1. The loop runs one step per kept box (a ``lax.while_loop`` that stops when no candidate
is left or ``max_output_size`` boxes are kept), each step comparing one box against all others, so memory is
``O(N)`` rather than the ``O(N^2)`` of an all-pairs IoU matrix. Everything vmaps over a leading batch axis.

One difference from torchvision on CPU: XLA flushes float32 denormals to zero, so a box whose area is below
~1e-38 (sides under ~1e-19) counts as empty and suppresses nothing.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def _check_inputs(boxes, scores, max_output_size):
  boxes = jnp.asarray(boxes)
  scores = jnp.asarray(scores)
  if boxes.ndim != 2 or boxes.shape[-1] != 4:
    raise ValueError(f"boxes must have shape [N, 4], got {boxes.shape} (use jax.vmap for a batch)")
  if scores.shape != boxes.shape[:1]:
    raise ValueError(f"scores must have shape [N] = {boxes.shape[:1]}, got {scores.shape}")
  if not isinstance(max_output_size, int) or max_output_size < 1:
    raise ValueError(f"max_output_size must be a static int >= 1, got {max_output_size!r}")
  if not jnp.issubdtype(boxes.dtype, jnp.floating):
    boxes = boxes.astype(jnp.float32)
  return boxes, scores


def _greedy_nms(boxes, scores, classes, iou_threshold, max_output_size, score_threshold):
  """Shared loop of ``nms`` and ``batched_nms``; ``classes`` is None or ``[N]`` ints."""
  num_boxes = boxes.shape[0]
  order = jnp.argsort(-scores, stable=True)
  sorted_boxes = boxes[order]
  x1, y1, x2, y2 = (sorted_boxes[:, i] for i in range(4))
  areas = (x2 - x1) * (y2 - y1)
  candidate = scores[order] > score_threshold
  # NaN scores sort last and compare False: they are never kept.
  sorted_classes = None if classes is None else classes[order]

  def cond(state):
    count, remaining, _ = state
    return (count < max_output_size) & jnp.any(remaining)

  def body(state):
    count, remaining, kept = state
    i = jnp.argmax(remaining)  # first remaining = highest score, lowest index among ties
    width = jnp.maximum(jnp.minimum(x2[i], x2) - jnp.maximum(x1[i], x1), 0.0)
    height = jnp.maximum(jnp.minimum(y2[i], y2) - jnp.maximum(y1[i], y1), 0.0)
    intersection = width * height
    # Same arithmetic as torchvision; 0/0 (two empty boxes) is NaN there, which never suppresses.
    union = areas[i] + areas - intersection
    iou = intersection / jnp.where(union > 0, union, 1.0)
    suppress = (iou > iou_threshold) & (union > 0)
    if sorted_classes is not None:
      suppress &= sorted_classes == sorted_classes[i]
    remaining = remaining & ~suppress
    remaining = remaining.at[i].set(False)
    kept = kept.at[count].set(order[i].astype(jnp.int32))
    return count + 1, remaining, kept

  kept = jnp.full((max_output_size,), -1, jnp.int32)
  if num_boxes == 0:
    return kept
  _, _, kept = lax.while_loop(cond, body, (jnp.int32(0), candidate, kept))
  return kept


def nms(boxes, scores, iou_threshold: float, max_output_size: int, score_threshold: float = -jnp.inf):
  """Greedy non-maximum suppression.

  Args:
    boxes: ``[N, 4]`` xyxy.
    scores: ``[N]``.
    iou_threshold: a box is suppressed by a kept box when their IoU is ``> iou_threshold``.
    max_output_size: static number of output slots.
    score_threshold: only boxes with ``score > score_threshold`` are candidates (so ``-inf`` scores can
      mark padding).

  Returns:
    ``[max_output_size]`` int32 indices of the kept boxes in descending score order, padded with -1.
  """
  boxes, scores = _check_inputs(boxes, scores, max_output_size)
  return _greedy_nms(boxes, scores, None, iou_threshold, max_output_size, score_threshold)


def batched_nms(boxes, scores, classes, iou_threshold: float, max_output_size: int,
                score_threshold: float = -jnp.inf):
  """Per-class greedy NMS in one call: boxes only suppress boxes of their own class.

  The kept set is the union of ``nms`` run on each class separately, listed in descending score order
  (stable) and truncated to ``max_output_size``, as ``torchvision.ops.batched_nms``.

  Args:
    boxes: ``[N, 4]`` xyxy.
    scores: ``[N]``.
    classes: ``[N]`` integer class ids.
    iou_threshold, max_output_size, score_threshold: as in ``nms``.

  Returns:
    ``[max_output_size]`` int32 indices padded with -1.
  """
  boxes, scores = _check_inputs(boxes, scores, max_output_size)
  classes = jnp.asarray(classes)
  if classes.shape != scores.shape:
    raise ValueError(f"classes must have shape [N] = {scores.shape}, got {classes.shape}")
  if not jnp.issubdtype(classes.dtype, jnp.integer):
    raise ValueError(f"classes must be integers, got {classes.dtype}")
  return _greedy_nms(boxes, scores, classes, iou_threshold, max_output_size, score_threshold)


def gather_kept(values, kept_indices, fill_value=0):
  """Gathers ``values[kept_indices]`` along axis 0 with ``fill_value`` where the index is -1 padding.

  Args:
    values: ``[N, ...]``.
    kept_indices: ``[K]`` from ``nms`` / ``batched_nms``.

  Returns:
    ``[K, ...]``.
  """
  values = jnp.asarray(values)
  valid = kept_indices >= 0
  gathered = values[jnp.maximum(kept_indices, 0)]
  mask = valid.reshape(valid.shape + (1,) * (values.ndim - 1))
  return jnp.where(mask, gathered, jnp.asarray(fill_value, values.dtype))

