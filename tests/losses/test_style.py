"""Tests of jvision/losses/style.py against numpy re-derivations and hand-computed values."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.losses import style


def _numpy_gram(features, divisor):
  b, h, w, c = features.shape
  out = np.zeros((b, c, c), np.float64)
  for n in range(b):
    flat = features[n].reshape(h * w, c).astype(np.float64)
    for i in range(c):
      for j in range(c):
        out[n, i, j] = np.sum(flat[:, i] * flat[:, j]) / divisor
  return out


@pytest.mark.parametrize("normalization,divisor", [("none", 1), ("positions", 5 * 3), ("all", 5 * 3 * 4)])
def test_gram_matrix_matches_numpy(normalization, divisor):
  features = np.random.default_rng(0).normal(size=(2, 5, 3, 4)).astype(np.float32)
  gram = jax.jit(style.gram_matrix, static_argnums=1)(features, normalization)
  chex.assert_shape(gram, (2, 4, 4))
  chex.assert_trees_all_close(gram, _numpy_gram(features, divisor).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_gram_matrix_rejects_bad_input():
  with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
    style.gram_matrix(jnp.zeros((3, 4, 5)))
  with pytest.raises(ValueError, match="unknown Gram normalization 'sum'"):
    style.gram_matrix(jnp.zeros((1, 2, 2, 3)), "sum")
  with pytest.raises(ValueError, match="floating point"):
    style.gram_matrix(jnp.zeros((1, 2, 2, 3), jnp.int32))


def test_content_loss_mean_and_sum():
  rng = np.random.default_rng(1)
  x, p = rng.normal(size=(2, 3, 3, 2)).astype(np.float32), rng.normal(size=(2, 3, 3, 2)).astype(np.float32)
  expected_mean = ((x - p) ** 2).reshape(2, -1).mean(1)
  chex.assert_trees_all_close(style.content_loss(x, p), expected_mean, rtol=1e-5)
  chex.assert_trees_all_close(style.content_loss(x, p, "sum"), 0.5 * ((x - p) ** 2).reshape(2, -1).sum(1),
                              rtol=1e-5)
  chex.assert_trees_all_equal(style.content_loss(x, x), np.zeros(2, np.float32))
  with pytest.raises(ValueError, match="differ"):
    style.content_loss(x, p[:, :2])
  with pytest.raises(ValueError, match="reduction 'max'"):
    style.content_loss(x, p, "max")


def test_style_loss_weights_layers_like_gatys():
  rng = np.random.default_rng(2)
  feats = {"a": rng.normal(size=(1, 4, 4, 3)).astype(np.float32),
           "b": rng.normal(size=(1, 2, 2, 5)).astype(np.float32)}
  style_feats = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in feats.items()}
  targets = {k: style.gram_matrix(v, "none") for k, v in style_feats.items()}
  weights = {"a": 0.25, "b": 2.0}
  got = style.style_loss(feats, targets, weights, normalization="none")
  expected = 0.0
  for name, w in weights.items():
    g, a = _numpy_gram(feats[name], 1), _numpy_gram(style_feats[name], 1)
    expected += w * np.mean((g - a) ** 2)
  chex.assert_trees_all_close(got, np.array([expected], np.float32), rtol=1e-4)
  # Gatys's E_l = ||G - A||^2 / (4 N^2 M^2) is a quarter of the "positions"-normalized layer loss.
  n, m = 3, 16
  gatys = np.sum((_numpy_gram(feats["a"], 1) - _numpy_gram(style_feats["a"], 1)) ** 2) / (4 * n * n * m * m)
  ours = style.style_layer_loss(style.gram_matrix(feats["a"], "positions"),
                                style.gram_matrix(style_feats["a"], "positions"))
  chex.assert_trees_all_close(ours / 4, np.array([gatys], np.float32), rtol=1e-4)
  # Default weights: equal, summing to one.
  equal = style.style_loss(feats, targets, normalization="none")
  chex.assert_trees_all_close(equal, style.style_loss(feats, targets, {"a": 0.5, "b": 0.5}, "none"))
  with pytest.raises(KeyError, match="no features for style layers"):
    style.style_loss({"a": feats["a"]}, targets)
  with pytest.raises(KeyError, match="without a target"):
    style.style_loss(feats, targets, {"c": 1.0})


def test_total_variation_by_hand():
  image = np.array([[0.0, 1.0], [3.0, 5.0]], np.float32)[None, :, :, None]
  # Vertical differences 3, 4; horizontal 1, 2.
  chex.assert_trees_all_close(style.total_variation(image), np.array([(9 + 16) / 2 + (1 + 4) / 2]))
  chex.assert_trees_all_close(style.total_variation(image, 1.0), np.array([3.5 + 1.5]))
  chex.assert_trees_all_equal(style.total_variation(np.ones((2, 4, 4, 3), np.float32)), np.zeros(2, np.float32))
  with pytest.raises(ValueError, match="power must be positive"):
    style.total_variation(image, 0.0)
