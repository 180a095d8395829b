"""Tests for jvision/losses/instance_segmentation.py: hand-computed values, no NaN without positives."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.losses.instance_segmentation import mask_rcnn_loss


def test_hand_computed_value():
  # Two 2x1 masks, three classes; only RoI 0 (class 2) and RoI 2 (class 0) are positive.
  logits = np.zeros((3, 2, 1, 3), np.float32)
  logits[0, :, 0, 2] = [math.log(3.0), 0.0]  # sigmoid 0.75, 0.5 on the own class
  logits[0, :, 0, 0] = 50.0  # another class's channel: must not matter
  logits[1] = np.nan  # a negative RoI with garbage: must not leak
  logits[2, :, 0, 0] = [0.0, -math.log(3.0)]  # sigmoid 0.5, 0.25
  targets = np.array([[[1.0], [0.0]], [[1.0], [1.0]], [[0.0], [1.0]]], np.float32)
  labels = np.array([2, 1, 0])
  valid = np.array([True, False, True])
  # -log 0.75, -log 0.5, -log 0.5, -log 0.25, averaged over the 4 pixels of the 2 positive RoIs.
  expected = (-math.log(0.75) - 2 * math.log(0.5) - math.log(0.25)) / 4
  np.testing.assert_allclose(mask_rcnn_loss(logits, targets, labels, valid), expected, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(mask_rcnn_loss)(logits, targets, labels, valid), expected, rtol=1e-6)


def test_gradient_reaches_only_the_own_class_of_positives():
  logits = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3, 3, 5)), jnp.float32)
  targets = jnp.asarray(np.random.default_rng(1).uniform(size=(4, 3, 3)) > 0.5, jnp.float32)
  labels, valid = jnp.array([1, 4, 0, 2]), jnp.array([True, True, False, True])
  grad = jax.grad(mask_rcnn_loss)(logits, targets, labels, valid)
  own = jax.nn.one_hot(labels, 5, dtype=bool)[:, None, None, :] & valid[:, None, None, None]
  assert np.all(grad[~np.broadcast_to(own, grad.shape)] == 0)
  # d/dz of mean BCE = (sigmoid(z) - t) / number of averaged pixels.
  expected = (jax.nn.sigmoid(logits) - targets[..., None]) / (3 * 9)
  np.testing.assert_allclose(grad[np.broadcast_to(own, grad.shape)],
                             expected[np.broadcast_to(own, grad.shape)], rtol=1e-5, atol=1e-7)


def test_no_positive_gives_zero_not_nan():
  logits = jnp.full((3, 4, 4, 2), jnp.nan)
  loss, grad = jax.value_and_grad(mask_rcnn_loss)(logits, jnp.ones((3, 4, 4)), jnp.zeros(3, int),
                                                   jnp.zeros(3, bool))
  assert loss == 0.0
  assert np.all(grad == 0)


def test_errors_name_the_problem():
  with pytest.raises(ValueError, match="targets must be \\[R, M, M\\]"):
    mask_rcnn_loss(jnp.zeros((2, 4, 4, 3)), jnp.zeros((2, 4, 3)), jnp.zeros(2, int), jnp.ones(2, bool))
  with pytest.raises(ValueError, match="labels must be integers"):
    mask_rcnn_loss(jnp.zeros((2, 4, 4, 3)), jnp.zeros((2, 4, 4)), jnp.zeros(2), jnp.ones(2, bool))
