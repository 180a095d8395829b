"""Tests for jvision/ops/matching.py against a per-anchor loop re-derivation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jvision.ops import boxes as box_ops
from jvision.ops import matching


def reference_match(iou, valid, high, low, low_quality, force):
  num_gt, num_anchors = iou.shape
  matches = np.full(num_anchors, -1)
  quality = np.where(valid[:, None], iou, -1.0)
  for a in range(num_anchors):
    g = int(np.argmax(quality[:, a]))
    best = quality[g, a]
    matches[a] = g if best >= high else (-2 if best >= low else -1)
    if low_quality:
      for h in range(num_gt):
        if quality[h].max() > 0 and quality[h, a] == quality[h].max():
          matches[a] = g
  if force:
    for h in range(num_gt):  # later ground truth overwrites earlier
      if valid[h] and quality[h].max() > 0:
        matches[int(np.argmax(quality[h]))] = h
  return matches


def test_matches_reference_for_all_rules():
  rng = np.random.default_rng(0)
  corners = rng.uniform(0, 80, (40, 2))
  anchor_boxes = np.concatenate([corners, corners + rng.uniform(5, 40, (40, 2))], 1)
  gt = np.concatenate([rng.uniform(0, 80, (6, 2)), np.zeros((6, 2))], 1)
  gt[:, 2:] = gt[:, :2] + rng.uniform(10, 40, (6, 2))
  gt[5] = [500, 500, 510, 510]  # overlaps nothing
  iou = np.array(box_ops.box_iou(gt, anchor_boxes))
  iou[1, 3] = iou[1].max()  # a tie for the best anchor of ground truth 1
  valid = np.array([True, True, True, True, False, True])
  for rules in [(False, False), (True, False), (False, True), (True, True)]:
    fn = jax.jit(lambda q, v: matching.match_anchors(q, v, 0.5, 0.3, *rules))
    np.testing.assert_array_equal(np.asarray(fn(iou, valid)), reference_match(iou, valid, 0.5, 0.3, *rules))
  forced = matching.match_anchors(iou, valid, 0.99, force_match_each_gt=True)
  assert set(np.asarray(forced)[np.asarray(forced) >= 0].tolist()) == {0, 1, 2, 3}


def test_hand_case_and_gather():
  iou = jnp.array([[0.8, 0.4, 0.1, 0.0], [0.1, 0.6, 0.2, 0.0]])
  np.testing.assert_array_equal(matching.match_anchors(iou, None, 0.7, 0.3), [0, -2, -1, -1])
  np.testing.assert_array_equal(matching.match_anchors(iou, None, 0.7, 0.3, allow_low_quality_matches=True),
                                [0, 1, -1, -1])
  np.testing.assert_array_equal(matching.match_anchors(iou, jnp.array([True, False]), 0.5), [0, -1, -1, -1])
  np.testing.assert_array_equal(matching.match_anchors(jnp.zeros((0, 4)), None, 0.5), [-1] * 4)
  labels = matching.gather_matched(jnp.array([3, 7]), jnp.array([1, -1, 0, -2]), fill_value=0)
  chex.assert_trees_all_close(labels, jnp.array([7, 0, 3, 0]))
