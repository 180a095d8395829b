"""Tests for jvision/models/efficientnet.py (Keras equivalence: tests/models/weights/)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models import efficientnet


@pytest.mark.parametrize("constructor,expected", [
    (efficientnet.EfficientNetB0, 5_288_548), (efficientnet.EfficientNetB1, 7_794_184),
    (efficientnet.EfficientNetB2, 9_109_994), (efficientnet.EfficientNetB3, 12_233_232)])
def test_parameter_count_matches_keras_trainable_weights(constructor, expected):
  # Keras applications' trainable parameter counts (equal to torchvision's efficientnet_b0..b3).
  shapes = jax.eval_shape(constructor().init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"])) == expected


def test_round_filters_by_hand():
  assert efficientnet.round_filters(32, 1.1) == 32  # 35.2 -> 32 (within 10%)
  assert efficientnet.round_filters(40, 1.2) == 48  # 48.0
  assert efficientnet.round_filters(1280, 1.2) == 1536
  assert efficientnet.round_filters(16, 1.1) == 16  # 17.6 -> 16


def test_b0_feature_shapes():
  model = efficientnet.EfficientNetB0(num_classes=3)
  x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(1), x)
  logits, features = jax.eval_shape(lambda v, x: model.apply(v, x, return_features=True), variables, x)
  assert logits.shape == (2, 3)
  assert {k: v.shape[1:] for k, v in features.items()} == {
      "stem": (16, 16, 32), "stage1": (16, 16, 16), "stage2": (8, 8, 24), "stage3": (4, 4, 40),
      "stage4": (2, 2, 80), "stage5": (2, 2, 112), "stage6": (1, 1, 192), "stage7": (1, 1, 320),
      "top": (1, 1, 1280)}


def test_stochastic_depth_drops_whole_residual_branches_in_training():
  block = efficientnet.MBConv(filters_out=8, kernel_size=3, strides=1, expand_ratio=2, drop_rate=0.5)
  x = jax.random.normal(jax.random.key(0), (16, 4, 4, 8))
  variables = block.init(jax.random.key(1), x, train=False)
  out, _ = block.apply(variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)})
  branch = np.asarray(out - x).reshape(16, -1)
  dropped = np.all(branch == 0, axis=1)
  assert np.all(dropped | np.all(branch != 0, axis=1))  # an example keeps all or nothing of its branch
  assert 0 < dropped.sum() < 16
  eval_branch = np.asarray(block.apply(variables, x, train=False) - x).reshape(16, -1)
  assert np.all(np.any(eval_branch != 0, axis=1))  # nothing is dropped at evaluation
