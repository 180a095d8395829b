"""Uncertainty policies and masked multi-label losses against numpy re-derivations."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.losses import multilabel

NAN = np.nan
LABELS = np.array([[1, 0, -1, NAN], [-1, -1, 0, 1]], np.float32)


def test_policies_hand_values():
  np.testing.assert_array_equal(multilabel.uncertainty_targets(LABELS, "ignore"), [[1, 0, NAN, NAN], [NAN, NAN, 0, 1]])
  np.testing.assert_array_equal(multilabel.uncertainty_targets(LABELS, "zeros"), [[1, 0, 0, NAN], [0, 0, 0, 1]])
  np.testing.assert_array_equal(multilabel.uncertainty_targets(LABELS, "ones"), [[1, 0, 1, NAN], [1, 1, 0, 1]])
  np.testing.assert_array_equal(multilabel.uncertainty_targets(LABELS, "multiclass"), [[1, 0, 2, NAN], [2, 2, 0, 1]])
  smoothed = multilabel.uncertainty_targets(LABELS, "ones_smoothed", np.random.default_rng(0))
  drawn = smoothed[LABELS == -1]
  assert ((drawn >= 0.55) & (drawn <= 0.85)).all() and len(set(drawn)) == 3
  np.testing.assert_array_equal(smoothed[LABELS != -1], multilabel.uncertainty_targets(LABELS, "ones")[LABELS != -1])
  zeros = multilabel.uncertainty_targets(LABELS, "zeros_smoothed", np.random.default_rng(0))[LABELS == -1]
  assert ((zeros >= 0) & (zeros <= 0.3)).all()


def test_policy_errors():
  with pytest.raises(ValueError, match="unknown uncertainty policy 'u-ones'"):
    multilabel.uncertainty_targets(LABELS, "u-ones")
  with pytest.raises(ValueError, match="pass rng"):
    multilabel.uncertainty_targets(LABELS, "ones_smoothed")
  with pytest.raises(ValueError, match="labels must be"):
    multilabel.uncertainty_targets(np.array([2.0]), "zeros")


def test_masked_bce_matches_numpy_and_has_finite_gradients():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 4)).astype(np.float32) * 3
  targets = multilabel.uncertainty_targets(LABELS, "ignore")
  losses, valid = multilabel.masked_sigmoid_bce(jnp.asarray(logits), jnp.asarray(targets))
  p = 1 / (1 + np.exp(-logits.astype(np.float64)))
  expected = -(np.nan_to_num(targets) * np.log(p) + (1 - np.nan_to_num(targets)) * np.log(1 - p))
  np.testing.assert_allclose(losses, np.where(np.isnan(targets), 0, expected), rtol=1e-5)
  np.testing.assert_array_equal(valid, ~np.isnan(targets))
  grads = jax.grad(lambda x: multilabel.masked_sigmoid_bce(x, jnp.asarray(targets))[0].sum())(jnp.asarray(logits))
  assert np.isfinite(grads).all()
  np.testing.assert_array_equal(np.asarray(grads)[np.isnan(targets)], 0.0)


def test_multiclass_loss_and_test_probability():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(2, 4, 3)).astype(np.float32)
  targets = multilabel.uncertainty_targets(LABELS, "multiclass")
  losses, valid = multilabel.masked_multiclass_ce(jnp.asarray(logits), jnp.asarray(targets))
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  for i, j in np.argwhere(~np.isnan(targets)):
    assert losses[i, j] == pytest.approx(-log_probs[i, j, int(targets[i, j])], rel=1e-5)
  assert float(losses[0, 3]) == 0.0 and float(valid[0, 3]) == 0.0
  prob = multilabel.multiclass_positive_probability(jnp.asarray(logits))
  chex.assert_shape(prob, (2, 4))
  np.testing.assert_allclose(prob, np.exp(logits[..., 1]) / np.exp(logits[..., :2]).sum(-1), rtol=1e-5)
