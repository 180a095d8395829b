"""Target assignment and minibatch sampling of two-stage detectors, with static shapes.

* ``balanced_sample_mask`` / ``balanced_sample_indices``: draw at most ``num_samples`` examples, at most a
  ``positive_fraction`` of them positive, the rest negative, uniformly at random within each group (Fast R-CNN,
  Girshick 2015, section 2.3 "mini-batch sampling"; Faster R-CNN's RPN, Ren et al. 2015, section 3.1.3, 256
  anchors, up to half positive). When there are too few positives, negatives fill the minibatch; when there
  are too few of both, the minibatch is smaller (the indices version pads with invalid slots).
* ``rpn_targets``: anchors matched to ground truth at IoU >= 0.7 (positive), < 0.3 (negative), ignored in
  between, plus each ground truth's best anchors (Faster R-CNN section 3.1.2), with (1, 1, 1, 1)-weighted
  box deltas.
* ``sample_rois``: proposals (plus the ground-truth boxes themselves) labelled by their best ground truth:
  foreground at IoU >= 0.5, background in ``[bg_iou_low, 0.5)`` (Fast R-CNN uses [0.1, 0.5), torchvision's
  Faster R-CNN [0, 0.5)), then a fixed number of them drawn with 25% foreground, with class-specific
  (10, 10, 5, 5)-weighted regression targets.

Everything is per image (``jax.vmap`` for a batch); padded entries carry a validity mask.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from jvision.ops import boxes as box_ops, matching

RPN_BOX_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
HEAD_BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def _random_rank(members, rng):
  """``[N]`` int rank of each member in a uniformly random order of the members (non-members rank last)."""
  keys = jnp.where(members, jax.random.uniform(rng, members.shape), 2.0)
  order = jnp.argsort(keys)
  return jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0], dtype=order.dtype))


def balanced_sample_mask(positive, negative, num_samples: int, positive_fraction: float, rng):
  """Selects a random minibatch: ``min(#positive, floor(num_samples * positive_fraction))`` positives and
  ``min(#negative, num_samples - selected positives)`` negatives.

  Args:
    positive, negative: ``[N]`` bool, disjoint.
    num_samples: static minibatch size.
    positive_fraction: largest fraction of positives.
    rng: a PRNG key.

  Returns:
    ``(selected_positive, selected_negative)``: ``[N]`` bool each.
  """
  positive, negative = jnp.asarray(positive, bool), jnp.asarray(negative, bool)
  if positive.shape != negative.shape or positive.ndim != 1:
    raise ValueError(f"positive and negative must be [N] of the same shape, got {positive.shape}, {negative.shape}")
  if num_samples < 1 or not 0.0 <= positive_fraction <= 1.0:
    raise ValueError(f"need num_samples >= 1 and positive_fraction in [0, 1], got {num_samples}, "
                     f"{positive_fraction}")
  positive_rng, negative_rng = jax.random.split(rng)
  max_positives = int(num_samples * positive_fraction)
  selected_positive = positive & (_random_rank(positive, positive_rng) < max_positives)
  max_negatives = num_samples - selected_positive.sum()
  selected_negative = negative & (_random_rank(negative, negative_rng) < max_negatives)
  return selected_positive, selected_negative


def balanced_sample_indices(positive, negative, num_samples: int, positive_fraction: float, rng):
  """``balanced_sample_mask`` as ``num_samples`` indices: the selected positives first, then the selected
  negatives, then padding.

  Returns:
    ``(indices [num_samples] int32, valid [num_samples] bool)``; padding slots point at index 0 and are
    invalid. Needs ``N >= num_samples``.
  """
  if positive.shape[0] < num_samples:
    raise ValueError(f"cannot draw {num_samples} samples from {positive.shape[0]} candidates")
  order_rng, sample_rng = jax.random.split(rng)
  selected_positive, selected_negative = balanced_sample_mask(positive, negative, num_samples,
                                                              positive_fraction, sample_rng)
  jitter = jax.random.uniform(order_rng, selected_positive.shape)
  priority = jnp.where(selected_positive, 4.0, jnp.where(selected_negative, 2.0, 0.0)) + jitter
  _, indices = jax.lax.top_k(priority, num_samples)
  valid = (selected_positive | selected_negative)[indices]
  return jnp.where(valid, indices, 0).astype(jnp.int32), valid


def rpn_targets(anchors, gt_boxes, gt_valid, high_threshold: float = 0.7, low_threshold: float = 0.3):
  """RPN labels and regression targets of one image.

  Args:
    anchors: ``[A, 4]`` xyxy pixels.
    gt_boxes: ``[G, 4]`` xyxy pixels; gt_valid ``[G]`` bool.

  Returns:
    ``labels [A]`` int32 (1 object, 0 background, -1 ignored) and ``deltas [A, 4]`` (the matched box encoded
    against the anchor with ``RPN_BOX_WEIGHTS``; 0 where not positive).
  """
  iou = box_ops.box_iou(gt_boxes, anchors)
  matches = matching.match_anchors(iou, gt_valid, high_threshold, low_threshold, allow_low_quality_matches=True)
  labels = jnp.where(matches >= 0, 1, jnp.where(matches == matching.BACKGROUND, 0, -1)).astype(jnp.int32)
  matched = matching.gather_matched(gt_boxes, matches, 0.0)
  deltas = box_ops.encode_boxes(matched, anchors, RPN_BOX_WEIGHTS)
  return labels, jnp.where((matches >= 0)[:, None], deltas, 0.0)


def sample_rois(proposals, proposal_valid, gt_boxes, gt_labels, gt_valid, rng, *, num_samples: int = 128,
                positive_fraction: float = 0.25, fg_iou_threshold: float = 0.5, bg_iou_high: float = 0.5,
                bg_iou_low: float = 0.0, append_gt: bool = True,
                box_weights: Sequence[float] = HEAD_BOX_WEIGHTS):
  """Labels proposals by their best ground truth and draws the box head's minibatch of one image.

  Args:
    proposals: ``[P, 4]`` xyxy pixels; proposal_valid ``[P]`` bool.
    gt_boxes: ``[G, 4]``; gt_labels ``[G]`` 0-based foreground classes; gt_valid ``[G]``.
    rng: a PRNG key.
    num_samples: static RoIs per image.
    positive_fraction: largest fraction of foreground RoIs.
    fg_iou_threshold: foreground at IoU >= it.
    bg_iou_high, bg_iou_low: background when the best IoU is in ``[bg_iou_low, bg_iou_high)``; RoIs in
      neither range are never drawn.
    append_gt: add the ground-truth boxes to the candidates (they are perfect foreground examples).
    box_weights: ``encode_boxes`` weights of the regression targets.

  Returns:
    dict of ``boxes [S, 4]``, ``labels [S]`` int32 (0 background, ``class + 1`` foreground),
    ``matched_gt [S]`` int32 (index into the ground truth, -1 for background and padding),
    ``target_deltas [S, 4]`` (0 unless foreground), ``valid [S]`` bool, with ``S = num_samples``.
  """
  proposals = jnp.asarray(proposals, jnp.float32)
  if proposals.ndim != 2 or proposals.shape[1] != 4:
    raise ValueError(f"proposals must be [P, 4] xyxy, got shape {proposals.shape}")
  if gt_boxes.ndim != 2 or gt_boxes.shape[1] != 4:
    raise ValueError(f"gt_boxes must be [G, 4] xyxy, got shape {gt_boxes.shape}")
  if not bg_iou_low <= bg_iou_high <= fg_iou_threshold:
    raise ValueError(f"need bg_iou_low <= bg_iou_high <= fg_iou_threshold, got {bg_iou_low}, {bg_iou_high}, "
                     f"{fg_iou_threshold}")
  candidates, candidate_valid = proposals, jnp.asarray(proposal_valid, bool)
  if append_gt:
    candidates = jnp.concatenate([candidates, gt_boxes.astype(jnp.float32)])
    candidate_valid = jnp.concatenate([candidate_valid, jnp.asarray(gt_valid, bool)])
  iou = jnp.where(gt_valid[:, None], box_ops.box_iou(gt_boxes, candidates), -1.0)  # [G, N]
  best_iou = jnp.maximum(iou.max(axis=0), 0.0) if gt_boxes.shape[0] else jnp.zeros(candidates.shape[:1])
  best_gt = iou.argmax(axis=0).astype(jnp.int32) if gt_boxes.shape[0] else jnp.zeros(candidates.shape[:1],
                                                                                         jnp.int32)
  positive = candidate_valid & (best_iou >= fg_iou_threshold)
  negative = candidate_valid & (best_iou < bg_iou_high) & (best_iou >= bg_iou_low) & ~positive
  indices, valid = balanced_sample_indices(positive, negative, num_samples, positive_fraction, rng)
  foreground = valid & positive[indices]
  matched_gt = jnp.where(foreground, best_gt[indices], -1)
  rois = candidates[indices]
  labels = jnp.where(foreground, gt_labels[jnp.maximum(matched_gt, 0)].astype(jnp.int32) + 1, 0)
  deltas = box_ops.encode_boxes(gt_boxes[jnp.maximum(matched_gt, 0)].astype(jnp.float32), rois, box_weights)
  return {"boxes": jnp.where(valid[:, None], rois, 0.0), "labels": labels.astype(jnp.int32),
          "matched_gt": matched_gt.astype(jnp.int32), "target_deltas": jnp.where(foreground[:, None], deltas, 0.0),
          "valid": valid}
