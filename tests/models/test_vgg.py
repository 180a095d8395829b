"""Tests for jvision/models/vgg.py."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models import vgg


@pytest.mark.parametrize("constructor,expected", [
    (vgg.VGG11, 132_863_336), (vgg.VGG13, 133_047_848), (vgg.VGG16, 138_357_544),
    (vgg.VGG19, 143_667_240), (vgg.VGG11BN, 132_868_840), (vgg.VGG19BN, 143_678_248)])
def test_parameter_count_matches_the_torchvision_model(constructor, expected):
  # torchvision counts BN scale and bias as parameters (running statistics are buffers).
  shapes = jax.eval_shape(constructor().init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"])) == expected


def test_vgg19_features_for_style_transfer_have_the_documented_shapes():
  model = vgg.VGG19(num_classes=5, classifier_width=16, pool_to=None)
  x = jax.random.normal(jax.random.key(0), (1, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  logits, features = model.apply(variables, x, return_features=True)
  chex.assert_shape(logits, (1, 5))
  expected = {"conv1_1": (1, 32, 32, 64), "conv2_1": (1, 16, 16, 128), "conv3_1": (1, 8, 8, 256),
              "conv4_1": (1, 4, 4, 512), "conv4_2": (1, 4, 4, 512), "conv5_1": (1, 2, 2, 512),
              "conv5_4": (1, 2, 2, 512), "pool5": (1, 1, 1, 512)}
  for name, shape in expected.items():
    chex.assert_shape(features[name], shape)
  assert min(float(features["conv3_1"].min()), float(features["pool2"].min())) >= 0.0  # after ReLU
  assert len([k for k in features if k.startswith("conv")]) == 16


def test_adaptive_average_pool_matches_torch_rule_by_hand():
  x = jnp.arange(5.0).reshape(1, 5, 1, 1) * jnp.ones((1, 5, 5, 1))
  # torch: 5 -> 3 cells cover rows [0,1], [1,2,3], [3,4]; means 0.5, 2, 3.5.
  got = vgg.adaptive_average_pool(x, 3)[0, :, 0, 0]
  chex.assert_trees_all_close(got, jnp.array([0.5, 2.0, 3.5]))
  # 1 -> 7 repeats the single pixel, as torchvision does for 32x32 inputs.
  one = jnp.full((2, 1, 1, 3), 4.0)
  chex.assert_trees_all_close(vgg.adaptive_average_pool(one, 7), jnp.full((2, 7, 7, 3), 4.0))


def test_batch_norm_variant_trains_with_dropout_rng():
  model = vgg.VGG11BN(num_classes=3, classifier_width=8, pool_to=1)
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  logits, state = model.apply(variables, x, train=True, mutable=["batch_stats"],
                              rngs={"dropout": jax.random.key(2)})
  chex.assert_shape(logits, (2, 3))
  assert "bn5_2" in state["batch_stats"]


def test_too_small_or_unknown_depth_is_refused():
  with pytest.raises(ValueError, match="at least 32x32"):
    vgg.VGG11().init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
  with pytest.raises(ValueError, match="depth must be one of"):
    vgg.VGG(depth=12).init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
