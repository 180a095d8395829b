"""Tests for jvision/models/densenet.py (Keras equivalence: tests/models/weights/)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models import densenet


@pytest.mark.parametrize("constructor,expected", [(densenet.DenseNet121, 7_978_856),
                                                  (densenet.DenseNet169, 14_149_480)])
def test_parameter_count_matches_the_torchvision_model(constructor, expected):
  shapes = jax.eval_shape(constructor().init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"])) == expected


def test_small_densenet_features_and_channel_growth():
  # Channels by hand: 16 + 2 * 8 = 32 -> transition 16 -> 16 + 2 * 8 = 32.
  model = densenet.DenseNet(block_config=(2, 2), num_classes=3, growth_rate=8, num_init_features=16)
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  logits, features = model.apply(variables, x, return_features=True)
  chex.assert_shape(logits, (2, 3))
  assert {k: v.shape for k, v in features.items()} == {
      "stem": (2, 16, 16, 16), "block1": (2, 8, 8, 32), "block2": (2, 4, 4, 32)}
  # The first 16 channels of block1 are the pooled stem, passed through unchanged by concatenation.
  chex.assert_trees_all_close(np.asarray(features["block1"])[..., :16], np.asarray(
      jax.lax.reduce_window(features["stem"], -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1),
                            ((0, 0), (1, 1), (1, 1), (0, 0)))))
  _, state = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert "norm1" in state["batch_stats"]["denseblock2_denselayer2"]
