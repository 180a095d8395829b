"""Tests for jvision/ops/sampling.py: minibatch counts and membership on hand-built masks, RPN labels and
deltas of hand-placed anchors, and RoI sampling of hand-built proposals (labels, matched ground truth, targets)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.ops import boxes as box_ops, sampling


@pytest.mark.parametrize("num_positive,num_negative,expected", [
    (10, 50, (4, 12)),  # Enough of both: 25% of 16 positives, negatives fill up.
    (2, 50, (2, 14)),   # Too few positives: negatives fill the minibatch.
    (2, 5, (2, 5)),     # Too few of both: a smaller minibatch.
    (0, 0, (0, 0)),
])
def test_balanced_sample_mask_counts(num_positive, num_negative, expected):
  n = 64
  positive = jnp.arange(n) < num_positive
  negative = (jnp.arange(n) >= 32) & (jnp.arange(n) < 32 + num_negative)
  pos, neg = jax.jit(lambda p, q, r: sampling.balanced_sample_mask(p, q, 16, 0.25, r))(
      positive, negative, jax.random.PRNGKey(3))
  assert (int(pos.sum()), int(neg.sum())) == expected
  assert not np.any(np.asarray(pos) & ~np.asarray(positive))
  assert not np.any(np.asarray(neg) & ~np.asarray(negative))


def test_balanced_sample_mask_is_uniform_within_a_group():
  positive = jnp.arange(8) < 4
  counts = np.zeros(8)
  for seed in range(400):
    pos, _ = sampling.balanced_sample_mask(positive, ~positive, 4, 0.25, jax.random.PRNGKey(seed))
    counts += np.asarray(pos)
  # One of four positives drawn each time: each about 100 times, never a negative.
  assert counts[4:].sum() == 0 and counts.sum() == 400
  assert np.all(np.abs(counts[:4] - 100) < 35)


def test_balanced_sample_indices_positives_first_then_padding():
  positive = jnp.array([False, True, False, False, True, False, False, False])
  negative = jnp.array([True, False, False, True, False, False, False, False])
  indices, valid = sampling.balanced_sample_indices(positive, negative, 6, 0.5, jax.random.PRNGKey(0))
  indices, valid = np.asarray(indices), np.asarray(valid)
  assert valid.tolist() == [True, True, True, True, False, False]
  assert sorted(indices[:2].tolist()) == [1, 4] and sorted(indices[2:4].tolist()) == [0, 3]
  with pytest.raises(ValueError, match="cannot draw"):
    sampling.balanced_sample_indices(positive, negative, 9, 0.5, jax.random.PRNGKey(0))


def test_rpn_targets_by_hand():
  anchors = jnp.array([[0, 0, 10, 10], [0, 0, 10, 8], [20, 20, 30, 30], [0, 0, 4, 4], [40, 40, 50, 50]], jnp.float32)
  gt = jnp.array([[0, 0, 10, 10], [19, 19, 29, 29], [0, 0, 0, 0]], jnp.float32)
  labels, deltas = sampling.rpn_targets(anchors, gt, jnp.array([True, True, False]))
  # IoUs: anchor 0 = 1 with gt 0; anchor 1 = 0.8 with gt 0; anchor 2 = 81/119 = 0.68 with gt 1 (< 0.7, but
  # gt 1's best anchor: a low-quality match); anchor 3 = 0.16 with gt 0 (background); anchor 4 none.
  assert np.asarray(labels).tolist() == [1, 1, 1, 0, 0]
  chex.assert_trees_all_close(deltas[0], jnp.zeros(4), atol=1e-6)
  # Anchor 1 (centre y 4, h 8) to gt 0 (centre y 5, h 10): dy = 1/8, dh = log(10/8).
  chex.assert_trees_all_close(deltas[1], jnp.array([0.0, 0.125, 0.0, np.log(1.25)]), atol=1e-6)
  chex.assert_trees_all_close(deltas[2], jnp.array([-0.1, -0.1, 0.0, 0.0]), atol=1e-6)
  chex.assert_trees_all_close(deltas[3:], jnp.zeros((2, 4)))


def test_rpn_targets_ignore_between_thresholds():
  anchors = jnp.array([[0, 0, 10, 10], [0, 0, 10, 5]], jnp.float32)  # IoU 1 and 0.5 with the gt.
  labels, _ = sampling.rpn_targets(anchors, jnp.array([[0, 0, 10, 10]], jnp.float32), jnp.array([True]))
  assert np.asarray(labels).tolist() == [1, -1]


def test_sample_rois_labels_targets_and_thresholds():
  gt = jnp.array([[0, 0, 20, 20], [40, 40, 60, 60], [0, 0, 0, 0]], jnp.float32)
  gt_labels = jnp.array([2, 0, -1])
  gt_valid = jnp.array([True, True, False])
  proposals = jnp.array([
      [0, 0, 20, 16],     # IoU 0.8 with gt 0: foreground, class 2 + 1
      [40, 40, 60, 50],   # IoU 0.5 with gt 1: foreground (>= 0.5), class 0 + 1
      [0, 0, 20, 4],      # IoU 0.2 with gt 0: background in [0.1, 0.5)
      [0, 0, 20, 1],      # IoU 0.05: below bg_iou_low, never drawn
      [80, 80, 90, 90],   # IoU 0: never drawn
      [0, 0, 20, 20],     # invalid
  ], jnp.float32)
  proposal_valid = jnp.array([True, True, True, True, True, False])
  out = jax.jit(lambda r: sampling.sample_rois(proposals, proposal_valid, gt, gt_labels, gt_valid, r,
                                               num_samples=6, positive_fraction=1.0, bg_iou_low=0.1,
                                               append_gt=False))(jax.random.PRNGKey(0))
  out = jax.tree.map(np.asarray, out)
  assert out["valid"].tolist() == [True, True, True, False, False, False]
  by_box = {tuple(b): (l, m) for b, l, m, v in zip(out["boxes"].tolist(), out["labels"], out["matched_gt"],
                                                   out["valid"]) if v}
  assert by_box == {(0, 0, 20, 16): (3, 0), (40, 40, 60, 50): (1, 1), (0, 0, 20, 4): (0, -1)}
  for box, deltas, label in zip(out["boxes"], out["target_deltas"], out["labels"]):
    if label > 0:
      matched = gt[0] if label == 3 else gt[1]
      chex.assert_trees_all_close(deltas, box_ops.encode_boxes(matched, jnp.asarray(box), (10, 10, 5, 5)),
                                  atol=1e-5)
    else:
      chex.assert_trees_all_close(deltas, np.zeros(4))


def test_sample_rois_appends_ground_truth_and_caps_foreground():
  gt = jnp.array([[0, 0, 20, 20], [40, 40, 60, 60]], jnp.float32)
  proposals = jnp.array([[0, 0, 20, 18]] * 6 + [[100, 100, 120, 120]] * 10, jnp.float32)
  out = sampling.sample_rois(proposals, jnp.ones(16, bool), gt, jnp.array([0, 1]), jnp.array([True, True]),
                             jax.random.PRNGKey(1), num_samples=8, positive_fraction=0.25)
  labels, valid = np.asarray(out["labels"]), np.asarray(out["valid"])
  assert valid.all() and (labels > 0).sum() == 2 and (labels == 0).sum() == 6
  # With the ground truth appended, gt 1 (no proposal overlaps it) can be drawn as its own foreground RoI.
  seen = set()
  for seed in range(30):
    out = sampling.sample_rois(proposals, jnp.ones(16, bool), gt, jnp.array([0, 1]), jnp.array([True, True]),
                               jax.random.PRNGKey(seed), num_samples=8, positive_fraction=0.25)
    seen.update(np.asarray(out["matched_gt"])[np.asarray(out["labels"]) > 0].tolist())
  assert seen == {0, 1}


def test_sample_rois_without_valid_ground_truth_is_all_background():
  proposals = jnp.array([[0, 0, 10, 10], [5, 5, 30, 30], [0, 0, 64, 64]], jnp.float32)
  out = sampling.sample_rois(proposals, jnp.ones(3, bool), jnp.zeros((2, 4)), jnp.array([-1, -1]),
                             jnp.zeros(2, bool), jax.random.PRNGKey(0), num_samples=4)
  assert np.asarray(out["valid"]).sum() == 3 and np.all(np.asarray(out["labels"]) == 0)
  assert np.all(np.asarray(out["matched_gt"]) == -1)


def test_sample_rois_rejects_bad_thresholds():
  with pytest.raises(ValueError, match="bg_iou_low"):
    sampling.sample_rois(jnp.zeros((4, 4)), jnp.ones(4, bool), jnp.zeros((1, 4)), jnp.zeros(1, int),
                         jnp.ones(1, bool), jax.random.PRNGKey(0), num_samples=2, bg_iou_high=0.6)
