"""The configurable CNN: shapes for every knob, parameter counts by hand, clear errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision import models
from jvision.models import cnn


@pytest.mark.parametrize("activation", sorted(cnn.ACTIVATIONS))
@pytest.mark.parametrize("pooling", cnn.POOLINGS)
def test_output_shape_for_each_activation_and_pooling(activation, pooling):
  model = cnn.CNN(num_classes=7, features=(4, 8), activation=activation, pooling=pooling, head_width=16)
  images = jnp.ones((3, 12, 12, 1))
  variables = model.init(jax.random.PRNGKey(0), images)
  logits = model.apply(variables, images)
  chex.assert_shape(logits, (3, 7))
  chex.assert_tree_all_finite(logits)


def test_parameter_count_matches_hand_computation():
  # conv 3x3 1->4 (no bias, BN: scale+bias) ; conv 3x3 4->8 ; 12x12 -> 6 -> 3 after two max-pools.
  model = cnn.CNN(num_classes=10, features=(4, 8), kernel_size=3, head_width=16)
  variables = model.init(jax.random.PRNGKey(0), jnp.ones((1, 12, 12, 1)))
  expected = (9 * 1 * 4 + 2 * 4) + (9 * 4 * 8 + 2 * 8) + (3 * 3 * 8 * 16 + 16) + (16 * 10 + 10)
  assert sum(x.size for x in jax.tree.leaves(variables["params"])) == expected
  assert set(variables) == {"params", "batch_stats"}


def test_knobs_change_structure():
  base = dict(num_classes=10, features=(4,), head_width=0)
  images = jnp.ones((2, 8, 8, 1))
  count = lambda **kw: sum(x.size for x in jax.tree.leaves(
      cnn.CNN(**{**base, **kw}).init(jax.random.PRNGKey(0), images)["params"]))
  assert count(kernel_size=5) - count(kernel_size=3) == (25 - 9) * 4
  assert count(batch_norm=False) == count() - 2 * 4 + 4  # BN scale/bias replaced by a conv bias.
  assert count(convs_per_block=2) - count() == 9 * 4 * 4 + 2 * 4
  assert count(global_pool=True) == 9 * 4 + 2 * 4 + 4 * 10 + 10  # conv + BN + dense(4 -> 10).
  assert count() == 9 * 4 + 2 * 4 + 4 * 4 * 4 * 10 + 10  # Flattened 4x4x4 after one pool.


def test_dropout_is_active_only_in_training():
  model = cnn.CNN(features=(4,), dropout_rate=0.5, batch_norm=False)
  images = jax.random.normal(jax.random.PRNGKey(1), (4, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(0), images)
  np.testing.assert_array_equal(model.apply(variables, images), model.apply(variables, images))
  a = model.apply(variables, images, train=True, rngs={"dropout": jax.random.PRNGKey(2)})
  b = model.apply(variables, images, train=True, rngs={"dropout": jax.random.PRNGKey(3)})
  assert not np.allclose(a, b)


def test_bfloat16_compute_keeps_float32_params_and_logits():
  model = models.get_model("cnn", features=(4,), dtype=jnp.bfloat16)
  images = jnp.ones((2, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(0), images)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables))
  assert model.apply(variables, images).dtype == jnp.float32


@pytest.mark.parametrize("kwargs, message", [
    (dict(activation="sigmoidish"), "unknown activation 'sigmoidish'"),
    (dict(pooling="median"), "unknown pooling 'median'"),
    (dict(dropout_rate=1.0), "dropout_rate must be in"),
])
def test_bad_knobs_are_clear_errors(kwargs, message):
  with pytest.raises(ValueError, match=message):
    cnn.CNN(**kwargs).init(jax.random.PRNGKey(0), jnp.ones((1, 8, 8, 1)))


def test_wrong_rank_input_is_a_clear_error():
  with pytest.raises(ValueError, match=r"expects images \[B, H, W, C\], got shape \(8, 8\)"):
    cnn.CNN().init(jax.random.PRNGKey(0), jnp.ones((8, 8)))


def test_unknown_model_name_lists_known():
  with pytest.raises(KeyError, match="unknown model 'cnnn'; known: .*cnn"):
    models.get_model("cnnn")
