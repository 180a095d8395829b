"""Tests for jvision/losses/rcnn.py: the box-head and RPN loss terms against hand-computed values, and the
batch normalisation of the four Faster R-CNN losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.losses import rcnn


def _smooth_l1(x, beta):
  x = np.abs(x)
  return np.where(x < beta, 0.5 * x * x / beta, x - 0.5 * beta)


def test_box_head_loss_by_hand():
  class_logits = jnp.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [5.0, 5.0, 5.0]])
  box_deltas = jnp.zeros((4, 2, 4)).at[1, 0].set(jnp.array([1.0, 0.0, 0.0, 0.05])).at[1, 1].set(9.0)
  labels = jnp.array([0, 1, 2, 1])
  target_deltas = jnp.zeros((4, 4)).at[2].set(jnp.array([0.0, 0.0, -2.0, 0.0]))
  valid = jnp.array([True, True, True, False])  # The last RoI is padding.
  classification, box, sampled = rcnn.box_head_loss(class_logits, box_deltas, labels, target_deltas, valid,
                                                    beta=0.1)
  log_softmax = lambda z, k: z[k] - np.log(np.exp(z).sum())
  expected_ce = -(log_softmax(np.array([2.0, 0, 0]), 0) + log_softmax(np.array([0, 1.0, 0]), 1)
                  + log_softmax(np.array([0, 0, 3.0]), 2))
  # RoI 1 (class 1) uses its class-1 deltas (index 0), not the class-2 ones; RoI 2 regresses to -2 from 0.
  expected_box = _smooth_l1(np.array([1.0, 0, 0, 0.05]), 0.1).sum() + _smooth_l1(np.array([2.0]), 0.1).sum()
  assert float(classification) == pytest.approx(expected_ce, rel=1e-5)
  assert float(box) == pytest.approx(expected_box, rel=1e-5)
  assert float(sampled) == 3


def test_rpn_loss_by_hand_with_every_anchor_sampled():
  anchors = jnp.array([[0, 0, 10, 10], [0, 0, 10, 8], [30, 30, 40, 40], [50, 50, 60, 60]], jnp.float32)
  gt = jnp.array([[0, 0, 10, 10]], jnp.float32)
  objectness = jnp.array([2.0, -1.0, 0.5, -3.0])
  deltas = jnp.zeros((4, 4)).at[0].set(jnp.array([0.5, 0.0, 0.0, 0.0]))
  obj_sum, box_sum, sampled = rcnn.rpn_loss(objectness, deltas, anchors, gt, jnp.array([True]),
                                            jax.random.PRNGKey(0), num_samples=8, positive_fraction=0.5, beta=1.0)
  # Labels: anchors 0 (IoU 1) and 1 (IoU 0.8) positive, 2 and 3 negative; all four sampled.
  bce = lambda z, y: np.log1p(np.exp(-z)) if y else np.log1p(np.exp(z))
  expected_obj = bce(2.0, 1) + bce(-1.0, 1) + bce(0.5, 0) + bce(-3.0, 0)
  # Anchor 0: delta 0.5 vs target 0; anchor 1: 0 vs (0, 1/8, 0, log 1.25).
  expected_box = 0.5 * 0.25 + 0.5 * (0.125 ** 2 + np.log(1.25) ** 2)
  assert float(obj_sum) == pytest.approx(expected_obj, rel=1e-5)
  assert float(box_sum) == pytest.approx(expected_box, rel=1e-5)
  assert float(sampled) == 4


def test_faster_rcnn_losses_normalise_over_the_batch():
  anchors = jnp.array([[0, 0, 10, 10], [30, 30, 40, 40]], jnp.float32)
  outputs = {
      "anchors": anchors, "rpn_objectness": jnp.zeros((2, 2)), "rpn_deltas": jnp.zeros((2, 2, 4)),
      "class_logits": jnp.zeros((2, 3, 3)), "box_deltas": jnp.zeros((2, 3, 2, 4)),
      "roi_labels": jnp.array([[1, 0, 0], [0, 0, 0]]), "roi_target_deltas": jnp.zeros((2, 3, 4)),
      "roi_valid": jnp.array([[True, True, False], [True, False, False]]),
  }
  gt = jnp.array([[[0, 0, 10, 10]], [[30, 30, 40, 40]]], jnp.float32)
  losses = rcnn.faster_rcnn_losses(outputs, gt, jnp.ones((2, 1), bool), jax.random.PRNGKey(0))
  # Zero logits: log 2 per sampled anchor, log 3 per sampled RoI; zero deltas match zero targets.
  assert float(losses["rpn_objectness_loss"]) == pytest.approx(np.log(2.0), rel=1e-5)
  assert float(losses["classification_loss"]) == pytest.approx(np.log(3.0), rel=1e-5)
  assert float(losses["rpn_box_loss"]) == 0.0 and float(losses["box_loss"]) == 0.0
  assert float(losses["loss"]) == pytest.approx(np.log(2.0) + np.log(3.0), rel=1e-5)


def test_mask_branch_loss_equals_a_numpy_rederivation():
  # Two 8 x 8 images. Integer RoIs of 4 x 4 pixels with M = 4: each bin is one pixel and RoIAlign (aligned,
  # adaptive sampling: one sample per bin) reads the pixel itself, so the target is the gt mask's crop.
  rng = np.random.default_rng(0)
  gt_masks = (rng.random((2, 3, 8, 8)) > 0.5).astype(np.uint8)
  mask_rois = np.array([[[0, 0, 4, 4], [2, 3, 6, 7], [4, 4, 8, 8]],
                        [[1, 1, 5, 5], [0, 4, 4, 8], [3, 0, 7, 4]]], np.float32)
  matched = np.array([[1, 2, -1], [0, 0, -1]])
  classes = np.array([[2, 0, 0], [1, 1, 0]])
  valid = np.array([[True, True, False], [True, False, False]])  # background, an unused slot, padding.
  logits = rng.normal(size=(2, 3, 4, 4, 3)).astype(np.float32) * 3
  logits[0, 2] = np.nan  # What a padded slot may hold must not leak into the loss.
  outputs = {"mask_logits": jnp.asarray(logits), "mask_rois": jnp.asarray(mask_rois),
             "mask_matched_gt": jnp.asarray(matched), "mask_classes": jnp.asarray(classes),
             "mask_valid": jnp.asarray(valid)}
  loss = jax.jit(rcnn.mask_branch_loss)(outputs, jnp.asarray(gt_masks))
  total, pixels = 0.0, 0
  for b, r in zip(*np.nonzero(valid)):
    x1, y1, x2, y2 = mask_rois[b, r].astype(int)
    target = gt_masks[b, matched[b, r], y1:y2, x1:x2].astype(np.float64)
    x = logits[b, r, :, :, classes[b, r]].astype(np.float64)
    probability = 1 / (1 + np.exp(-x))
    total += -(target * np.log(probability) + (1 - target) * np.log(1 - probability)).sum()
    pixels += target.size
  assert pixels == 48
  assert float(loss) == pytest.approx(total / pixels, rel=1e-5)
  # No valid RoI: 0, not NaN.
  empty = dict(outputs, mask_valid=jnp.zeros((2, 3), bool))
  assert float(rcnn.mask_branch_loss(empty, jnp.asarray(gt_masks))) == 0.0
