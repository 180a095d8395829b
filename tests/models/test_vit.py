"""Tests for jvision/models/vit.py (torchvision import with a torch reference: tests/models/weights/)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from jvision.models import vit


@pytest.mark.parametrize("constructor,expected", [(vit.ViTB16, 86_567_656), (vit.ViTTiny16, 5_717_416)])
def test_parameter_count_matches_torchvision_vit_b_16_and_deit_tiny(constructor, expected):
  shapes = jax.eval_shape(constructor().init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"])) == expected


def _layer_norm(x, p):
  mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + 1e-6) * p["scale"] + p["bias"]


def test_encoder_layer_matches_a_numpy_rederivation():
  layer = vit.EncoderLayer(num_heads=2, mlp_dim=12)
  x = np.random.RandomState(0).randn(2, 5, 8).astype(np.float32)
  variables = layer.init(jax.random.key(0), x, train=False)
  p = jax.tree.map(lambda v: np.asarray(v, np.float64) + 0.05, variables["params"])  # non-trivial LN/biases
  got = layer.apply({"params": jax.tree.map(np.float32, p)}, x, train=False)
  y = _layer_norm(x, p["ln_1"])
  a = p["self_attention"]
  q, k, v = (np.einsum("bnd,dhk->bhnk", y, a[n]["kernel"]) + a[n]["bias"][None, :, None] for n in
             ("query", "key", "value"))
  logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  attended = np.einsum("bhnk,hkd->bnd", weights @ v, a["out"]["kernel"]) + a["out"]["bias"]
  x1 = x + attended
  h = _layer_norm(x1, p["ln_2"]) @ p["mlp_linear_1"]["kernel"] + p["mlp_linear_1"]["bias"]
  h = 0.5 * h * (1 + special.erf(h / np.sqrt(2)))  # exact GELU
  expected = x1 + h @ p["mlp_linear_2"]["kernel"] + p["mlp_linear_2"]["bias"]
  chex.assert_trees_all_close(got, expected, atol=1e-5, rtol=1e-5)


def test_small_vit_features_and_size_check():
  model = vit.VisionTransformer(image_size=32, patch_size=8, width=16, depth=2, num_heads=2, mlp_dim=32,
                                num_classes=3)
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  logits, features = model.apply(variables, x, return_features=True)
  chex.assert_shape(logits, (2, 3))
  assert {k: v.shape for k, v in features.items()} == {
      "encoder_layer_0": (2, 4, 4, 16), "encoder_layer_1": (2, 4, 4, 16), "encoded": (2, 4, 4, 16)}
  with pytest.raises(ValueError, match="built for 32x32 images"):
    model.apply(variables, jnp.zeros((1, 64, 64, 3)))
