"""Contrastive losses: numpy re-derivations, and the sharded losses on 8 fake devices against the unsharded."""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from jvision.losses import contrastive


def unit_rows(rng, shape):
  x = rng.normal(size=shape).astype(np.float32)
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_clip_loss(x, y, scale):
  logits = scale * np.asarray(x, np.float64) @ np.asarray(y, np.float64).T
  def ce(l):
    l = l - l.max(1, keepdims=True)
    return -np.mean(np.diag(l) - np.log(np.exp(l).sum(1)))
  return 0.5 * (ce(logits) + ce(logits.T))


def numpy_sigmoid_loss(x, y, scale, bias):
  logits = scale * np.asarray(x, np.float64) @ np.asarray(y, np.float64).T + bias
  z = 2 * np.eye(len(x)) - 1
  return np.sum(np.log1p(np.exp(-z * logits))) / len(x)


def mesh8():
  assert jax.device_count() == 8, "tests/conftest.py sets 8 fake CPU devices"
  return Mesh(np.asarray(jax.devices()), ("data",))


class UnshardedTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_match_numpy(self):
    rng = np.random.default_rng(0)
    x, y = unit_rows(rng, (6, 5)), unit_rows(rng, (6, 5))
    np.testing.assert_allclose(self.variant(contrastive.clip_loss)(x, y, 7.0), numpy_clip_loss(x, y, 7.0),
                               rtol=1e-5)
    np.testing.assert_allclose(self.variant(contrastive.sigmoid_loss)(x, y, 10.0, -10.0),
                               numpy_sigmoid_loss(x, y, 10.0, -10.0), rtol=1e-5)

  def test_perfect_alignment_hand_computed(self):
    # Two orthogonal pairs, scale s: each row's softmax is [e^s, 1] / (e^s + 1) -> loss log(1 + e^-s).
    x = jnp.eye(2)
    np.testing.assert_allclose(contrastive.clip_loss(x, x, 3.0), np.log1p(np.exp(-3.0)), rtol=1e-6)

  def test_bad_shapes(self):
    with pytest.raises(ValueError, match="one shape"):
      contrastive.clip_loss(jnp.zeros((4, 3)), jnp.zeros((5, 3)), 1.0)


class ShardedTest(chex.TestCase):

  def _check(self, kind, reference):
    mesh = mesh8()
    rng = np.random.default_rng(1)
    x, y = unit_rows(rng, (32, 16)), unit_rows(rng, (32, 16))
    scale, bias = jnp.float32(12.0), jnp.float32(-10.0 if kind == "sigmoid" else 0.0)
    sharded = contrastive.make_sharded_loss(mesh, kind)
    value, grads = jax.jit(jax.value_and_grad(sharded, argnums=(0, 1, 2, 3)))(x, y, scale, bias)
    want_value, want_grads = jax.value_and_grad(reference, argnums=(0, 1, 2, 3))(x, y, scale, bias)
    chex.assert_trees_all_close(value, want_value, atol=1e-5, rtol=1e-5)
    chex.assert_trees_all_close(grads, want_grads, atol=1e-5, rtol=1e-5)
    return value

  def test_softmax_equals_unsharded(self):
    value = self._check("softmax", lambda x, y, s, b: contrastive.clip_loss(x, y, s))
    assert value > 0

  def test_sigmoid_equals_unsharded(self):
    self._check("sigmoid", contrastive.sigmoid_loss)

  def test_sigmoid_value_matches_numpy(self):
    rng = np.random.default_rng(2)
    x, y = unit_rows(rng, (16, 4)), unit_rows(rng, (16, 4))
    got = contrastive.make_sharded_loss(mesh8(), "sigmoid")(x, y, 5.0, -2.0)
    np.testing.assert_allclose(got, numpy_sigmoid_loss(x, y, 5.0, -2.0), rtol=1e-5)

  def test_per_device_logits_are_local_by_global(self):
    local, global_batch, dim = 64, 512, 32
    spec = jax.ShapeDtypeStruct((global_batch, dim), jnp.float32)
    scalar = jax.ShapeDtypeStruct((), jnp.float32)
    for kind, logits_shape in (("softmax", (local, global_batch)), ("sigmoid", (local, local))):
      compiled = jax.jit(contrastive.make_sharded_loss(mesh8(), kind)).lower(spec, spec, scalar, scalar).compile()
      shapes = set(re.findall(r"f32\[(\d+),(\d+)\]", compiled.as_text()))
      assert tuple(map(str, logits_shape)) in shapes, (kind, shapes)
      assert (str(global_batch), str(global_batch)) not in shapes, kind
      # Per-device scratch memory holds a few [B_local, B_global] buffers, far less than one global matrix.
      temp = compiled.memory_analysis().temp_size_in_bytes
      assert temp < global_batch * global_batch * 4 / 2, (kind, temp)
      if kind == "softmax":
        assert temp >= local * global_batch * 4, temp

  def test_indivisible_batch_and_unknown_kind(self):
    with pytest.raises(ValueError, match="not divisible"):
      contrastive.make_sharded_loss(mesh8())(jnp.zeros((12, 4)), jnp.zeros((12, 4)), 1.0)
    with pytest.raises(ValueError, match="unknown contrastive loss kind 'infonce'"):
      contrastive.make_sharded_loss(mesh8(), "infonce")
