"""Tests for jvision/ops/proposals.py: RPN proposal generation on hand-built anchors (top-k, decoding, clipping,
small-box removal, NMS, padding, per-level NMS) and the jittered-ground-truth stand-in."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.ops import boxes as box_ops
from jvision.ops.proposals import generate_proposals, jittered_gt_proposals

ANCHORS = jnp.array([
    [0, 0, 10, 10],     # 0: score 5
    [1, 1, 11, 11],     # 1: score 4, IoU 0.68 with anchor 0 (kept at 0.7, suppressed at 0.5)
    [20, 20, 60, 60],   # 2: score 3, shifted by its deltas
    [30, 30, 30.5, 40],  # 3: score 6 but 0.5 px wide: removed (min_size 1)
    [50, 50, 80, 80],   # 4: score 1, clipped to the 64 px image
    [0, 0, 5, 5],       # 5: score -1, outside the pre-NMS top 5
], jnp.float32)
SCORES = jnp.array([5.0, 4.0, 3.0, 6.0, 1.0, -1.0])


def _deltas():
  deltas = np.zeros((6, 4), np.float32)
  deltas[2] = [0.25, 0.0, np.log(0.5), 0.0]  # centre x 40 -> 50, width 40 -> 20
  return jnp.asarray(deltas)


def test_generate_proposals_by_hand():
  out = jax.jit(lambda o, d: generate_proposals(o, d, ANCHORS, (64, 64), pre_nms_top_n=5, post_nms_top_n=6,
                                                nms_threshold=0.5, min_size=1.0))(SCORES, _deltas())
  out = jax.tree.map(np.asarray, out)
  assert out["valid"].tolist() == [True, True, True, False, False, False]
  np.testing.assert_allclose(out["boxes"][:3], [[0, 0, 10, 10], [40, 20, 60, 60], [50, 50, 64, 64]], atol=1e-5)
  np.testing.assert_allclose(out["scores"][:3], jax.nn.sigmoid(jnp.array([5.0, 3.0, 1.0])), rtol=1e-6)
  np.testing.assert_array_equal(out["boxes"][3:], 0.0)
  np.testing.assert_array_equal(out["scores"][3:], 0.0)


def test_generate_proposals_nms_threshold_and_post_top_n():
  out = generate_proposals(SCORES, _deltas(), ANCHORS, (64, 64), pre_nms_top_n=6, post_nms_top_n=2,
                           nms_threshold=0.7, min_size=1.0)
  # Anchor 1 survives a 0.7 NMS; only the best two are returned.
  np.testing.assert_allclose(np.asarray(out["boxes"]), [[0, 0, 10, 10], [1, 1, 11, 11]])
  assert np.asarray(out["valid"]).all()


def test_generate_proposals_per_level_top_n_and_nms():
  # Two levels of three anchors; pre_nms_top_n=2 per level keeps anchors 0, 1 and 3, 4. Within a level the
  # better box suppresses its overlapping neighbour (IoU 1 and 0.9); across levels identical boxes survive.
  anchors = jnp.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 9],
                       [40, 40, 50, 50]], jnp.float32)
  scores = jnp.array([3.0, 2.0, 1.0, 5.0, 4.0, 0.0])
  out = generate_proposals(scores, jnp.zeros((6, 4)), anchors, (64, 64), pre_nms_top_n=2, post_nms_top_n=4,
                           nms_threshold=0.5, level_sizes=(3, 3))
  np.testing.assert_allclose(np.asarray(out["scores"])[:2], jax.nn.sigmoid(jnp.array([5.0, 3.0])), rtol=1e-6)
  assert np.asarray(out["valid"]).tolist() == [True, True, False, False]
  with pytest.raises(ValueError, match="level_sizes"):
    generate_proposals(scores, jnp.zeros((6, 4)), anchors, (64, 64), pre_nms_top_n=2, post_nms_top_n=4,
                       level_sizes=(3, 2))


def test_generate_proposals_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match="must match anchors"):
    generate_proposals(SCORES[:5], _deltas(), ANCHORS, (64, 64), pre_nms_top_n=5, post_nms_top_n=2)


def test_jittered_gt_proposals_cover_ground_truth_and_stay_in_the_image():
  gt = np.array([[10, 10, 40, 30], [50, 60, 90, 120], [0, 0, 0, 0]], np.float32)
  valid = np.array([True, True, False])
  out = jittered_gt_proposals(gt, valid, 64, 128, np.random.default_rng(0))
  proposals = out["proposals"]
  assert proposals.shape == (64, 4) and out["proposal_valid"].all()
  assert proposals.min() >= 0 and proposals.max() <= 128
  assert np.all(proposals[:, 2:] > proposals[:, :2])
  iou = np.asarray(box_ops.box_iou(jnp.asarray(gt[:2]), jnp.asarray(proposals)))
  # Each object has foreground (>= 0.5) and background-range proposals around it.
  assert np.all((iou >= 0.5).sum(axis=1) >= 4)
  assert np.any((iou.max(axis=0) > 0.1) & (iou.max(axis=0) < 0.5))
  # Without objects, all proposals are random boxes.
  empty = jittered_gt_proposals(np.zeros((3, 4)), np.zeros(3, bool), 8, 64, np.random.default_rng(1))
  chex.assert_shape(empty["proposals"], (8, 4))
  # More jittered copies than slots: truncated to num_proposals.
  few = jittered_gt_proposals(gt, valid, 10, 128, np.random.default_rng(2))
  chex.assert_shape(few["proposals"], (10, 4))
