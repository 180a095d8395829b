"""Tests for jvision/models/attention_augmented_conv.py: relative logits against a naive loop, attention
against a direct softmax, symmetry checks, the layer's shapes and a few training steps of resnet18_aa."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision import models
from jvision.models import attention_augmented_conv as aa

RNG = np.random.default_rng(0)


def test_relative_logits_match_a_naive_loop():
  b, n, h, w, d = 2, 2, 3, 4, 5
  q = RNG.normal(size=(b, n, h, w, d)).astype(np.float32)
  rel_h = RNG.normal(size=(2 * h - 1, d)).astype(np.float32)
  rel_w = RNG.normal(size=(2 * w - 1, d)).astype(np.float32)
  expected = np.zeros((b, n, h, w, h, w), np.float32)
  for bi in range(b):
    for ni in range(n):
      for i in range(h):
        for j in range(w):
          for i2 in range(h):
            for j2 in range(w):
              query = q[bi, ni, i, j]
              expected[bi, ni, i, j, i2, j2] = query @ rel_h[i2 - i + h - 1] + query @ rel_w[j2 - j + w - 1]
  np.testing.assert_allclose(aa.relative_logits(q, rel_h, rel_w), expected, rtol=1e-5, atol=1e-5)


def test_relative_attention_matches_a_flat_softmax():
  b, n, h, w, d, dv = 1, 2, 3, 3, 4, 3
  q, k = (RNG.normal(size=(b, n, h, w, d)).astype(np.float32) for _ in range(2))
  v = RNG.normal(size=(b, n, h, w, dv)).astype(np.float32)
  rel_h, rel_w = RNG.normal(size=(2 * h - 1, d)), RNG.normal(size=(2 * w - 1, d))
  out = aa.relative_attention(q, k, v, jnp.asarray(rel_h, jnp.float32), jnp.asarray(rel_w, jnp.float32))
  qf, kf, vf = q.reshape(b, n, h * w, d), k.reshape(b, n, h * w, d), v.reshape(b, n, h * w, dv)
  positions = [(i, j) for i in range(h) for j in range(w)]
  logits = np.einsum("bnpd,bnmd->bnpm", qf, kf)
  for p, (i, j) in enumerate(positions):
    for m, (i2, j2) in enumerate(positions):
      logits[:, :, p, m] += qf[:, :, p] @ (rel_h[i2 - i + h - 1] + rel_w[j2 - j + w - 1])
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  np.testing.assert_allclose(out, np.einsum("bnpm,bnmv->bnpv", weights, vf).reshape(b, n, h, w, dv),
                             rtol=1e-4, atol=1e-5)


def test_content_only_attention_is_permutation_equivariant_and_relative_logits_flip_consistently():
  b, n, h, w, d = 1, 2, 3, 4, 4
  q, k, v = (jnp.asarray(RNG.normal(size=(b, n, h, w, d)), jnp.float32) for _ in range(3))
  # Without position logits, shuffling the positions shuffles the output the same way.
  perm = RNG.permutation(h * w)
  shuffle = lambda t: t.reshape(b, n, h * w, -1)[:, :, perm].reshape(t.shape)
  chex.assert_trees_all_close(aa.relative_attention(*map(shuffle, (q, k, v))),
                              shuffle(aa.relative_attention(q, k, v)), atol=1e-5)
  # With them: mirroring the map left-right and reversing the width embeddings (offset -> -offset) mirrors
  # the output.
  rel_h = jnp.asarray(RNG.normal(size=(2 * h - 1, d)), jnp.float32)
  rel_w = jnp.asarray(RNG.normal(size=(2 * w - 1, d)), jnp.float32)
  flip = lambda t: t[:, :, :, ::-1]
  out = aa.relative_attention(q, k, v, rel_h, rel_w)
  chex.assert_trees_all_close(aa.relative_attention(flip(q), flip(k), flip(v), rel_h, rel_w[::-1]), flip(out),
                              atol=1e-5)
  assert not np.allclose(aa.relative_attention(flip(q), flip(k), flip(v), rel_h, rel_w), flip(out), atol=1e-3)


def test_layer_shapes_parameters_and_errors():
  layer = aa.AttentionAugmentedConv(features=16, key_features=8, value_features=4, num_heads=2)
  x = jnp.asarray(RNG.normal(size=(2, 5, 6, 3)), jnp.float32)
  variables = layer.init(jax.random.key(0), x)
  chex.assert_shape(layer.apply(variables, x), (2, 5, 6, 16))
  params = variables["params"]
  assert params["rel_height"].shape == (9, 4) and params["rel_width"].shape == (11, 4)
  assert params["conv"]["kernel"].shape == (3, 3, 3, 12) and params["qkv"]["kernel"].shape == (1, 1, 3, 20)
  with pytest.raises(ValueError, match="divisible by num_heads"):
    aa.AttentionAugmentedConv(16, key_features=6, value_features=4, num_heads=4).init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="value_features must be"):
    aa.AttentionAugmentedConv(4, key_features=8, value_features=4, num_heads=2).init(jax.random.key(0), x)


@pytest.mark.heavy
def test_resnet18_aa_augments_the_last_stages_and_trains():
  model = models.get_model("resnet18_aa", num_classes=3, width=8, cifar_stem=True,
                           block=lambda *a, **k: aa.AABasicBlock(*a, min_features=32, num_heads=2, **k))
  x = jnp.asarray(RNG.normal(size=(4, 16, 16, 1)), jnp.float32)
  y = jnp.array([0, 1, 2, 0])
  variables = jax.jit(model.init)(jax.random.key(0), x)
  params = variables["params"]
  assert "rel_width" in params["layer3_0"]["conv2"] and "rel_width" in params["layer4_1"]["conv2"]
  assert "block" in params["layer1_0"] and "block" in params["layer2_1"]  # Plain basic blocks (8, 16 wide).
  tx = optax.adam(3e-3)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, batch_stats, opt_state):
    def loss_fn(p):
      logits, state = model.apply({"params": p, "batch_stats": batch_stats}, x, train=True,
                                  mutable=["batch_stats"])
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), state["batch_stats"]
    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), batch_stats, opt_state, loss

  batch_stats, losses = variables["batch_stats"], []
  for _ in range(8):
    params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state)
    losses.append(float(loss))
  assert np.isfinite(losses).all() and losses[-1] < losses[0]
