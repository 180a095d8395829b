"""Merge boxes predicted on several augmentations: class-aware NMS, or weighted box fusion (WBF).

WBF (Solovyev, Wang & Gabruseva, "Weighted boxes fusion: Ensembling boxes from different object detection
models", Image and Vision Computing 2021): boxes are visited by decreasing score; each joins the first-best
cluster of its class whose fused box overlaps it with IoU > ``iou_threshold`` or opens a new one. A cluster's
box is the score-weighted mean of its members, its score their mean times ``min(n, A) / A`` for A
augmentations, so a box that only some augmentations found is down-weighted. Written with static shapes: a
``fori_loop`` over the ``M`` candidates with ``M`` cluster slots.

Detections are padded: ``boxes [M, 4]`` (x1, y1, x2, y2), ``scores [M]``, ``classes [M]`` int with -1 for
padding. Outputs use the same convention, sorted by decreasing score.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def box_iou_one_to_many(box: jnp.ndarray, boxes: jnp.ndarray) -> jnp.ndarray:
  """IoU of ``box [4]`` with each of ``boxes [M, 4]`` -> ``[M]`` (0 where the union is empty)."""
  x1 = jnp.maximum(box[0], boxes[:, 0])
  y1 = jnp.maximum(box[1], boxes[:, 1])
  x2 = jnp.minimum(box[2], boxes[:, 2])
  y2 = jnp.minimum(box[3], boxes[:, 3])
  inter = jnp.clip(x2 - x1, 0) * jnp.clip(y2 - y1, 0)
  area = lambda b: jnp.clip(b[..., 2] - b[..., 0], 0) * jnp.clip(b[..., 3] - b[..., 1], 0)
  union = area(box) + area(boxes) - inter
  return jnp.where(union > 0, inter / jnp.where(union > 0, union, 1.0), 0.0)


def _sorted_by_score(boxes, scores, classes):
  order = jnp.argsort(-scores)
  return boxes[order], scores[order], classes[order]


def weighted_boxes_fusion(boxes, scores, classes, num_augmentations: int, iou_threshold: float = 0.55,
                          score_threshold: float = 0.0):
  """Fuses one image's detections from ``num_augmentations`` predictions. Shapes ``[M, 4], [M], [M]``."""
  m = boxes.shape[0]
  valid = (classes >= 0) & (scores > score_threshold)
  boxes, scores, classes = _sorted_by_score(boxes, jnp.where(valid, scores, -jnp.inf), classes)
  valid = jnp.isfinite(scores)
  slots = jnp.arange(m)

  def visit(i, state):
    weighted_sum, score_sum, count, cluster_class, n = state
    fused = weighted_sum / jnp.maximum(score_sum, 1e-12)[:, None]
    iou = box_iou_one_to_many(boxes[i], fused)
    iou = jnp.where((slots < n) & (cluster_class == classes[i]), iou, -1.0)
    best = jnp.argmax(iou)
    matched = iou[best] > iou_threshold
    target = jnp.where(matched, best, n)
    weight = jnp.where(valid[i], scores[i], 0.0)
    weighted_sum = weighted_sum.at[target].add(weight * boxes[i])
    score_sum = score_sum.at[target].add(weight)
    count = count.at[target].add(valid[i].astype(count.dtype))
    cluster_class = cluster_class.at[target].set(jnp.where(valid[i], classes[i], cluster_class[target]))
    return weighted_sum, score_sum, count, cluster_class, n + (valid[i] & ~matched)

  init = (jnp.zeros((m, 4), boxes.dtype), jnp.zeros((m,), scores.dtype), jnp.zeros((m,), jnp.int32),
          jnp.full((m,), -1, classes.dtype), jnp.int32(0))
  weighted_sum, score_sum, count, cluster_class, _ = jax.lax.fori_loop(0, m, visit, init)
  used = count > 0
  safe_count = jnp.maximum(count, 1)
  fused_boxes = jnp.where(used[:, None], weighted_sum / jnp.maximum(score_sum, 1e-12)[:, None], 0.0)
  fused_scores = (score_sum / safe_count) * jnp.minimum(safe_count, num_augmentations) / num_augmentations
  fused_scores = jnp.where(used, fused_scores, -jnp.inf)
  fused_boxes, fused_scores, cluster_class = _sorted_by_score(fused_boxes, fused_scores, cluster_class)
  used = jnp.isfinite(fused_scores)
  return (fused_boxes, jnp.where(used, fused_scores, 0.0), jnp.where(used, cluster_class, -1))


def class_aware_nms(boxes, scores, classes, nms_fn: Callable, iou_threshold: float, max_output_size: int,
                    score_threshold: float = 0.0):
  """Per-class NMS of one image's detections through ``nms_fn`` (``jvision.ops.nms`` signature:
  ``nms(boxes, scores, iou_threshold, max_output_size, score_threshold) -> indices padded with -1``).

  Classes are kept apart by shifting each class's boxes to a disjoint region (boxes must lie in [0, 1]).
  Returns ``[max_output_size, 4], [max_output_size], [max_output_size]`` padded with 0, 0, -1.
  """
  valid = classes >= 0
  shifted = boxes + 2.0 * jnp.maximum(classes, 0).astype(boxes.dtype)[:, None]
  keep = nms_fn(shifted, jnp.where(valid, scores, -jnp.inf), iou_threshold, max_output_size, score_threshold)
  kept = keep >= 0
  index = jnp.maximum(keep, 0)
  return (jnp.where(kept[:, None], boxes[index], 0.0), jnp.where(kept, scores[index], 0.0),
          jnp.where(kept, classes[index], -1))
