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


def test_global_max_pool_head_reads_the_strongest_location():
  model = cnn.CNN(num_classes=3, features=(4,), global_pool=True, global_pool_op="max", head_width=0,
                  batch_norm=False)
  images = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(0), images)
  params = variables["params"]
  # Re-derive: conv (SAME) + bias, relu, 2x2 max pool, max over the map, dense.
  conv = jax.lax.conv_general_dilated(images, params["conv0_0"]["kernel"], (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC")) + params["conv0_0"]["bias"]
  pooled = jnp.max(jax.nn.relu(conv), axis=(1, 2))  # The 2x2 pool does not change the global maximum.
  expected = pooled @ params["logits"]["kernel"] + params["logits"]["bias"]
  np.testing.assert_allclose(model.apply(variables, images), expected, rtol=1e-5, atol=1e-5)
  # The gradient of a logit reaches the image only through each feature's strongest location.
  grad = jax.grad(lambda x: model.apply(variables, x)[0, 0])(images[:1])
  assert 0 < np.count_nonzero(np.asarray(grad)) <= 4 * 9  # At most 4 maxima x a 3x3 window.
  mean_model = cnn.CNN(num_classes=3, features=(4,), global_pool=True, head_width=0, batch_norm=False)
  grad = jax.grad(lambda x: mean_model.apply(variables, x)[0, 0])(images[:1])
  assert np.count_nonzero(np.asarray(grad)) > 4 * 9


@pytest.mark.parametrize("op", ["mean", "max", "log_mean_exp"])
def test_class_map_head_scores_every_location_then_pools(op):
  model = cnn.CNN(num_classes=3, features=(4, 6), global_pool=True, global_pool_op=op, class_map=True,
                  head_width=5, batch_norm=False)
  images = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(0), images)
  params = variables["params"]
  # The same parameters as the pooled-features head: the head's dense layers act per location.
  features_model = cnn.CNN(num_classes=3, features=(4, 6), global_pool=True, head_width=5, batch_norm=False)
  chex.assert_trees_all_equal_shapes(params, features_model.init(jax.random.PRNGKey(0), images)["params"])
  conv = lambda x, p: jax.lax.conv_general_dilated(x, p["kernel"], (1, 1), "SAME",
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC")) + p["bias"]
  pool = lambda x: jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")
  x = pool(jax.nn.relu(conv(pool(jax.nn.relu(conv(images, params["conv0_0"]))), params["conv1_0"])))
  scores = jax.nn.relu(x @ params["hidden"]["kernel"] + params["hidden"]["bias"])
  scores = np.asarray(scores @ params["logits"]["kernel"] + params["logits"]["bias"], np.float64)  # [2,2,2,3]
  flat = scores.reshape(2, 4, 3)
  expected = {"mean": flat.mean(1), "max": flat.max(1),
              "log_mean_exp": np.log(np.mean(np.exp(flat), axis=1))}[op]
  np.testing.assert_allclose(model.apply(variables, images), expected, rtol=1e-5, atol=1e-5)
  if op == "log_mean_exp":  # A smooth maximum: between the mean and the maximum.
    assert np.all(flat.mean(1) <= expected + 1e-9) and np.all(expected <= flat.max(1) + 1e-9)


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
    (dict(global_pool=True, global_pool_op="median"), "unknown global_pool_op 'median'"),
    (dict(class_map=True), "class_map=True pools a map of class scores: it needs global_pool=True"),
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
