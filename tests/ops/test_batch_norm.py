"""jvision/ops/batch_norm.py and jvision.models.layers.BatchNorm: flax's BatchNorm (variables, values,
gradients, running statistics) to float round-off, its statistics as matrix-vector products on CPU."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from jvision.models import layers
from jvision.ops import batch_norm

RNG = np.random.default_rng(0)


def _perturbed(variables):
  return jax.tree.map(lambda a: a + jnp.asarray(RNG.normal(size=a.shape) * 0.1, a.dtype), variables)


def _train_apply(module, variables, x, cotangent):
  """Output, running statistics and gradients (params, input) of one training-mode call."""
  def loss(params, x):
    y, updated = module.apply({"params": params, "batch_stats": variables["batch_stats"]}, x,
                              mutable=["batch_stats"])
    return jnp.vdot(y.astype(jnp.float32), cotangent), (y, updated["batch_stats"])
  (_, (y, stats)), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(variables["params"], x)
  return y, stats, grads


@pytest.mark.parametrize("shape, kwargs", [
    ((8, 5, 5, 6), {}),
    ((16, 3, 7), {"momentum": 0.9, "epsilon": 1e-3}),
    ((4, 6, 6, 3), {"use_scale": False}),
    ((4, 6, 6, 3), {"use_bias": False}),
])
def test_training_mode_equals_flax(shape, kwargs):
  x = jnp.asarray(RNG.normal(size=shape) * 3 + 1, jnp.float32)
  cotangent = jnp.asarray(RNG.normal(size=shape), jnp.float32)
  ours, theirs = layers.BatchNorm(use_running_average=False, **kwargs), nn.BatchNorm(
      use_running_average=False, **kwargs)
  variables = theirs.init(jax.random.PRNGKey(0), x)
  chex.assert_trees_all_equal(ours.init(jax.random.PRNGKey(0), x), variables)  # Same names and values.
  variables = _perturbed(variables)
  ours_out, theirs_out = _train_apply(ours, variables, x, cotangent), _train_apply(theirs, variables, x, cotangent)
  chex.assert_trees_all_close(ours_out, theirs_out, rtol=1e-5, atol=1e-5)
  assert "reduce_sum" not in str(jax.make_jaxpr(lambda v: _train_apply(ours, variables, v, cotangent))(x))


def test_bfloat16_compute_equals_flax_to_a_bfloat16_step():
  x = jnp.asarray(RNG.normal(size=(8, 4, 4, 5)) * 2, jnp.bfloat16)
  cotangent = jnp.asarray(RNG.normal(size=x.shape), jnp.float32)
  ours = layers.BatchNorm(use_running_average=False, dtype=jnp.bfloat16)
  theirs = nn.BatchNorm(use_running_average=False, dtype=jnp.bfloat16)
  variables = _perturbed(theirs.init(jax.random.PRNGKey(0), x))
  (y, stats, grads), (y_ref, stats_ref, grads_ref) = (_train_apply(m, variables, x, cotangent)
                                                      for m in (ours, theirs))
  assert y.dtype == y_ref.dtype == jnp.bfloat16 and grads[1].dtype == jnp.bfloat16
  np.testing.assert_array_equal(y, y_ref)  # The same float32 arithmetic, rounded once.
  chex.assert_trees_all_close(stats, stats_ref, rtol=1e-6)
  chex.assert_trees_all_close(grads[0], grads_ref[0], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(np.float32(grads[1]), np.float32(grads_ref[1]), rtol=2 ** -7, atol=2 ** -7)


def test_gradient_matches_a_numpy_rederivation():
  x = RNG.normal(size=(6, 3, 4)).astype(np.float64)
  scale, bias, d_y = RNG.normal(size=4), RNG.normal(size=4), RNG.normal(size=(6, 3, 4))
  eps = 1e-5
  rows, dy = x.reshape(-1, 4), d_y.reshape(-1, 4)
  mean, var = rows.mean(0), rows.var(0)
  x_hat = (rows - mean) / np.sqrt(var + eps)
  n = rows.shape[0]
  expected_dx = scale / np.sqrt(var + eps) / n * (n * dy - dy.sum(0) - x_hat * (dy * x_hat).sum(0))
  f = lambda x, s, b: jnp.vdot(batch_norm.batch_norm_train(x, s, b, eps, jnp.float32)[0], d_y)
  dx, ds, db = jax.grad(f, argnums=(0, 1, 2))(*(jnp.asarray(a, jnp.float32) for a in (x, scale, bias)))
  np.testing.assert_allclose(dx.reshape(-1, 4), expected_dx, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(ds, (dy * x_hat).sum(0), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(db, dy.sum(0), rtol=1e-5, atol=1e-5)


def test_gradient_through_the_statistics_matches_autodiff():
  # The running averages use mean and var; a loss on them (unusual) still gets the right gradient.
  x = jnp.asarray(RNG.normal(size=(5, 3, 2)), jnp.float32)
  scale, bias = jnp.full((2,), 1.5), jnp.full((2,), 0.2)

  def reference(x):
    mean = x.mean((0, 1))
    var = jnp.mean(x * x, (0, 1)) - mean ** 2
    return mean, var

  weights = jnp.asarray(RNG.normal(size=2), jnp.float32)
  ours = jax.grad(lambda x: jnp.vdot(batch_norm.batch_norm_train(x, scale, bias, 1e-5, jnp.float32)[1], weights)
                  + jnp.sum(batch_norm.batch_norm_train(x, scale, bias, 1e-5, jnp.float32)[2]))(x)
  expected = jax.grad(lambda x: jnp.vdot(reference(x)[0], weights) + jnp.sum(reference(x)[1]))(x)
  np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_channel_sums_are_matrix_vector_products():
  x = jnp.asarray(RNG.normal(size=(3, 4, 5)), jnp.bfloat16)
  sums = batch_norm.channel_sums(x)
  assert sums.dtype == jnp.float32
  np.testing.assert_allclose(sums, np.float32(x).sum((0, 1)), rtol=1e-6, atol=1e-6)
  assert "dot_general" in str(jax.make_jaxpr(batch_norm.channel_sums)(x))


def test_inference_and_other_settings_are_flax_own():
  x = jnp.asarray(RNG.normal(size=(4, 3, 3, 2)), jnp.float32)
  for kwargs, call in [({"use_running_average": True}, {}), ({"use_running_average": False, "axis": 1}, {}),
                       ({"use_running_average": False}, {"mask": jnp.ones((4, 3, 3, 1), bool)}),
                       ({"use_running_average": False, "use_fast_variance": False}, {})]:
    module = layers.BatchNorm(**kwargs)
    variables = _perturbed(nn.BatchNorm(**kwargs).init(jax.random.PRNGKey(0), x, **call))
    ours = module.apply(variables, x, mutable=["batch_stats"], **call)
    theirs = nn.BatchNorm(**kwargs).apply(variables, x, mutable=["batch_stats"], **call)
    chex.assert_trees_all_equal(ours, theirs)
    assert "dot_general" not in str(jax.make_jaxpr(lambda v: module.apply(variables, v, mutable=["batch_stats"],
                                                                          **call))(x))


def test_initialisation_leaves_the_running_averages_alone():
  x = jnp.asarray(RNG.normal(size=(4, 3)) + 5, jnp.float32)
  variables = layers.BatchNorm(use_running_average=False).init(jax.random.PRNGKey(0), x)
  np.testing.assert_array_equal(variables["batch_stats"]["mean"], np.zeros(3))
  np.testing.assert_array_equal(variables["batch_stats"]["var"], np.ones(3))


@pytest.mark.parametrize("shape", [(0, 4, 4, 3), (4, 0)])
def test_an_empty_batch_is_a_clear_error_not_nan(shape):
  x = jnp.zeros(shape, jnp.float32)
  with pytest.raises(ValueError, match="at least one position per channel"):
    batch_norm.batch_norm_train(x, jnp.ones(shape[-1:]), jnp.zeros(shape[-1:]), 1e-5, jnp.float32)
