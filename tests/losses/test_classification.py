"""Cross-entropy against a numpy re-derivation and optax."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision.losses.classification import softmax_cross_entropy


def numpy_cross_entropy(logits, labels, smoothing):
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(-1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
  k = logits.shape[-1]
  targets = np.eye(k)[labels] * (1 - smoothing) + smoothing / k
  return -(targets * log_probs).sum(-1)


class CrossEntropyTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_numpy_and_optax(self):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 5)).astype(np.float32) * 4
    labels = rng.integers(0, 5, size=16)
    for smoothing in (0.0, 0.1):
      got = self.variant(lambda x, y: softmax_cross_entropy(x, y, smoothing))(logits, labels)
      np.testing.assert_allclose(got, numpy_cross_entropy(logits, labels, smoothing), rtol=1e-5)
    np.testing.assert_allclose(
        self.variant(softmax_cross_entropy)(logits, labels),
        optax.softmax_cross_entropy_with_integer_labels(logits, labels), rtol=1e-6)

  def test_extreme_logits_stay_finite(self):
    logits = jnp.array([[1e4, -1e4, 0.0]])
    loss, grad = jax.value_and_grad(lambda x: softmax_cross_entropy(x, jnp.array([1])).sum())(logits)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(loss, 2e4, rtol=1e-6)

  def test_shape_mismatch_is_a_clear_error(self):
    with pytest.raises(ValueError, match=r"expected logits \[B, K\] and labels \[B\]"):
      softmax_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((5,), jnp.int32))
