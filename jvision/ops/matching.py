"""Assigning ground truth to anchors (or proposals, or default boxes) by IoU, with static shapes.

Each anchor takes the ground truth it overlaps most. It is a positive when that IoU is ``>= high_threshold``,
background when ``< low_threshold`` and ignored in between (Faster R-CNN's RPN uses 0.7 / 0.3; Fast R-CNN
and SSD a single 0.5). Two rules make sure no ground truth is left without an anchor:

* ``allow_low_quality_matches`` (Faster R-CNN, Ren et al. 2015, section 3.1.2, as in torchvision's Matcher):
  the anchors with the highest IoU for some ground truth become positives for *their own* best ground truth.
* ``force_match_each_gt`` (SSD, Liu et al. 2016, section 2.2 "matching strategy"): each ground truth's best
  anchor is assigned to that ground truth, whatever its IoU with others (a later ground truth wins when two
  pick the same anchor).

Unlike torchvision, a ground truth that overlaps no anchor at all (best IoU 0) forces nothing.
"""

from __future__ import annotations

import jax.numpy as jnp

BACKGROUND = -1
IGNORE = -2


def match_anchors(iou, gt_valid=None, high_threshold: float = 0.5, low_threshold: float | None = None,
                  allow_low_quality_matches: bool = False, force_match_each_gt: bool = False):
  """Best-IoU matching.

  Args:
    iou: ``[G, A]`` IoU of (padded) ground truth with anchors, e.g. ``box_iou(gt_boxes, anchors)``.
    gt_valid: ``[G]`` bool; padded ground truth never matches. Default all valid.
    high_threshold: positives have IoU ``>= high_threshold``.
    low_threshold: background below it, ignored in ``[low, high)``; default ``high_threshold`` (no ignore).
    allow_low_quality_matches: Faster R-CNN's rule (see the module docstring).
    force_match_each_gt: SSD's rule.

  Returns:
    ``[A]`` int32: the matched ground-truth index, ``BACKGROUND`` (-1) or ``IGNORE`` (-2).
  """
  iou = jnp.asarray(iou)
  if iou.ndim != 2:
    raise ValueError(f"iou must be [G, A], got shape {iou.shape}")
  num_gt, num_anchors = iou.shape
  if low_threshold is None:
    low_threshold = high_threshold
  if low_threshold > high_threshold:
    raise ValueError(f"low_threshold {low_threshold} must be <= high_threshold {high_threshold}")
  if num_gt == 0:
    return jnp.full((num_anchors,), BACKGROUND, jnp.int32)
  gt_valid = jnp.ones((num_gt,), bool) if gt_valid is None else jnp.asarray(gt_valid, bool)
  if gt_valid.shape != (num_gt,):
    raise ValueError(f"gt_valid must be [G] = [{num_gt}], got {gt_valid.shape}")
  quality = jnp.where(gt_valid[:, None], iou, -1.0)
  best_iou = quality.max(axis=0)
  best_gt = quality.argmax(axis=0).astype(jnp.int32)
  matches = jnp.where(best_iou >= high_threshold, best_gt,
                      jnp.where(best_iou >= low_threshold, IGNORE, BACKGROUND)).astype(jnp.int32)
  best_per_gt = quality.max(axis=1)  # [G]
  if allow_low_quality_matches:
    is_best = (quality == best_per_gt[:, None]) & (best_per_gt[:, None] > 0)
    matches = jnp.where(is_best.any(axis=0), best_gt, matches)
  if force_match_each_gt:
    best_anchor = quality.argmax(axis=1)
    forcing = jnp.where(gt_valid & (best_per_gt > 0), jnp.arange(num_gt, dtype=jnp.int32), -1)
    forced = jnp.full((num_anchors,), -1, jnp.int32).at[best_anchor].max(forcing)
    matches = jnp.where(forced >= 0, forced, matches)
  return matches


def gather_matched(values, matches, fill_value=0):
  """``values[matches]`` per anchor with ``fill_value`` where ``matches < 0``: ``[G, ...]`` -> ``[A, ...]``."""
  values = jnp.asarray(values)
  gathered = values[jnp.maximum(matches, 0)]
  mask = (matches >= 0).reshape(matches.shape + (1,) * (values.ndim - 1))
  return jnp.where(mask, gathered, jnp.asarray(fill_value, values.dtype))
