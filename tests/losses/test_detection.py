"""Tests for jvision/losses/detection.py: each loss on a hand-built target against a hand-computed value."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.losses import detection


def _cross_entropy(logits, label):
  logits = np.asarray(logits, np.float64)
  return np.log(np.sum(np.exp(logits))) - logits[label]


def test_smooth_l1_by_hand():
  chex.assert_trees_all_close(detection.smooth_l1(jnp.array([0.0, 0.5, -0.5, 1.0, -3.0])),
                              jnp.array([0.0, 0.125, 0.125, 0.5, 2.5]))


def test_hard_negative_mining_picks_the_highest_losses():
  losses = jnp.array([0.1, 5.0, 3.0, 2.0, 4.0])
  positive = jnp.array([False, True, False, False, False])
  chex.assert_trees_all_equal(detection.hard_negative_mining(losses, positive, 2.0),
                              jnp.array([False, False, True, False, True]))
  # More negatives asked for than exist: all of them; no positive: none.
  chex.assert_trees_all_equal(detection.hard_negative_mining(losses, positive, 10.0), ~positive)
  chex.assert_trees_all_equal(detection.hard_negative_mining(losses, jnp.zeros(5, bool), 3.0), jnp.zeros(5, bool))


def test_ssd_loss_on_a_hand_built_target():
  default_boxes = jnp.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
  gt_boxes = jnp.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
  gt_labels = jnp.array([1, -1])
  gt_valid = jnp.array([True, False])
  # Box 0 matches (IoU 1) as class 1 -> target 2; box 2 has IoU 0.25 -> background; box 1 background.
  logits = jnp.array([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
  deltas = jnp.array([[0.5, -0.2, 2.0, 0.0], [9.0, 9.0, 9.0, 9.0], [-7.0, 7.0, 7.0, 7.0]])
  ssd_loss = jax.jit(detection.ssd_loss, static_argnames=("neg_pos_ratio",))
  localization, confidence, positives = ssd_loss(logits, deltas, gt_boxes, gt_labels, gt_valid,
                                                           default_boxes, neg_pos_ratio=1.0)
  # Target deltas of box 0 are zero; smooth-L1 of (0.5, -0.2, 2, 0).
  assert float(localization) == pytest.approx(0.125 + 0.02 + 1.5 + 0.0, rel=1e-6)
  # One negative per positive: box 1 (loss log(2 + e^2)) beats box 2 (log(2 + e) - 1).
  assert float(confidence) == pytest.approx(_cross_entropy([0, 0, 1], 2) + _cross_entropy([0, 2, 0], 0), rel=1e-6)
  assert float(positives) == 1.0
  _, confidence_all, _ = ssd_loss(logits, deltas, gt_boxes, gt_labels, gt_valid, default_boxes)
  expected = _cross_entropy([0, 0, 1], 2) + _cross_entropy([0, 2, 0], 0) + _cross_entropy([1, 0, 0], 0)
  assert float(confidence_all) == pytest.approx(expected, rel=1e-6)


def test_ssd_targets_force_a_match_for_a_low_iou_ground_truth():
  default_boxes = jnp.array([[0.0, 0.0, 1.0, 1.0], [0.6, 0.6, 1.0, 1.0]])
  gt_boxes = jnp.array([[0.0, 0.0, 0.3, 0.3]])  # IoU 0.09 with box 0: below 0.5, forced.
  labels, deltas = jax.jit(detection.ssd_targets)(gt_boxes, jnp.array([4]), jnp.array([True]), default_boxes)
  chex.assert_trees_all_equal(labels, jnp.array([5, 0]))
  # Encoded by hand with weights (10, 10, 5, 5): centre 0.15 vs 0.5 over width 1; log(0.3 / 1).
  chex.assert_trees_all_close(deltas, jnp.array([[-3.5, -3.5, 5 * np.log(0.3), 5 * np.log(0.3)], [0, 0, 0, 0]]),
                              rtol=1e-5)


def test_yolo_loss_on_a_hand_built_target():
  image_size, num_boxes = 100, 2
  gt_boxes = jnp.array([[10.0, 10.0, 40.0, 30.0], [0.0, 0.0, 0.0, 0.0]])  # Centre (25, 20): cell (0, 0).
  gt_labels, gt_valid = jnp.array([1, -1]), jnp.array([True, False])
  predictions = np.zeros((2, 2, 2 * 5 + 2), np.float32)
  # Cell (0, 0): predictor 0 off by 0.1 cell in x (box [15, 10, 45, 30], IoU 500 / 700), predictor 1 far off.
  predictions[0, 0, 0:5] = [0.6, 0.4, np.sqrt(0.3), np.sqrt(0.2), 0.8]
  predictions[0, 0, 5:10] = [0.0, 0.0, 0.1, 0.1, 0.5]
  predictions[0, 0, 10:] = [0.3, 0.7]
  predictions[0, 1, 4], predictions[1, 0, 9], predictions[1, 1, 4] = 0.1, 0.2, 0.3
  predictions[1, 1, 10:] = [0.5, 0.5]  # No object in this cell: class probabilities are not penalised.
  yolo_loss = jax.jit(functools.partial(detection.yolo_loss, image_size=image_size, num_boxes=num_boxes))
  terms = yolo_loss(jnp.asarray(predictions), gt_boxes, gt_labels, gt_valid)
  expected = {"coord": 5 * 0.1 ** 2, "object": (0.8 - 5 / 7) ** 2,
              "noobject": 0.5 * (0.5 ** 2 + 0.1 ** 2 + 0.2 ** 2 + 0.3 ** 2), "class": 0.3 ** 2 + 0.3 ** 2}
  for name, value in expected.items():
    assert float(terms[name]) == pytest.approx(value, rel=1e-5), name
  assert float(terms["total"]) == pytest.approx(sum(expected.values()), rel=1e-5)


def test_yolo_loss_rejects_too_few_channels():
  with pytest.raises(ValueError, match="channels"):
    detection.yolo_loss(jnp.zeros((2, 2, 10)), jnp.zeros((1, 4)), jnp.zeros(1, int), jnp.ones(1, bool), 64, 2)


def test_overfeat_loss_by_hand():
  logits = jnp.array([1.0, 2.0, 0.5])
  boxes = jnp.arange(12, dtype=jnp.float32).reshape(3, 4) / 10
  cross_entropy, squared_error = detection.overfeat_loss(logits, boxes, jnp.array([0.4, 0.4, 0.8, 0.8]), 1)
  assert float(cross_entropy) == pytest.approx(_cross_entropy([1.0, 2.0, 0.5], 1), rel=1e-6)
  # True class 1's box (0.4, 0.5, 0.6, 0.7): errors (0, 0.1, -0.2, -0.1).
  assert float(squared_error) == pytest.approx((0.01 + 0.04 + 0.01) / 4, rel=1e-5)


def test_overfeat_loss_of_a_background_window_is_the_class_term_only():
  logits = jnp.array([1.0, 2.0, 0.5, -1.0])  # Three classes + background (the last).
  boxes = jnp.arange(12, dtype=jnp.float32).reshape(3, 4) / 10
  cross_entropy, squared_error = detection.overfeat_loss(logits, boxes, jnp.zeros(4), 3)
  assert float(cross_entropy) == pytest.approx(_cross_entropy([1.0, 2.0, 0.5, -1.0], 3), rel=1e-6)
  assert float(squared_error) == 0.0
  # An object window of the same model still scores its class's box.
  _, squared_error = detection.overfeat_loss(logits, boxes, jnp.array([0.4, 0.4, 0.8, 0.8]), 1)
  assert float(squared_error) == pytest.approx((0.01 + 0.04 + 0.01) / 4, rel=1e-5)
