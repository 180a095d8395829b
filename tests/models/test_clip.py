"""CLIP model: unit embeddings, clamped scale, causal text pooling at the end token, the ResNet tower's
attention pooling against numpy, and loud errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision import models
from jvision.models.clip_resnet import AttentionPool2d

SMALL = dict(embed_dim=8, image_size=16, vision_layers=1, vision_width=16, vision_patch_size=8, vision_heads=2,
             context_length=6, vocab_size=20, text_width=16, text_heads=2, text_layers=1)


@pytest.fixture(scope="module")
def vit_clip():
  model = models.get_model("clip", **SMALL)
  return model, jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)))


def test_unit_embeddings_and_initial_scale(vit_clip):
  model, variables = vit_clip
  tokens = jnp.array([[18, 3, 4, 19, 0, 0], [18, 5, 19, 0, 0, 0]])
  out = jax.jit(model.apply)(variables, jnp.ones((2, 16, 16, 3)), tokens)
  chex.assert_shape([out["image"], out["text"]], (2, 8))
  np.testing.assert_allclose(np.linalg.norm(out["image"], axis=1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(out["text"], axis=1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(out["scale"], 1 / 0.07, rtol=1e-5)
  np.testing.assert_allclose(out["bias"], -10.0)
  big = jax.tree.map(lambda x: x, variables)
  big["params"]["logit_scale"] = jnp.float32(np.log(1000.0))
  np.testing.assert_allclose(model.apply(big, jnp.ones((1, 16, 16, 3)))["scale"], 100.0)


def test_text_pooled_at_end_token_and_causal(vit_clip):
  model, variables = vit_clip
  encode_jit = jax.jit(lambda v, t: model.apply(v, t, method="encode_text"))
  encode = lambda t: encode_jit(variables, jnp.asarray(t))
  base = encode([[18, 3, 4, 19, 0, 0]])
  # Tokens after the end token cannot reach it through causal attention.
  chex.assert_trees_all_close(encode([[18, 3, 4, 19, 7, 9]]), base, atol=1e-6)
  # A token before it changes the embedding.
  assert np.abs(encode([[18, 3, 5, 19, 0, 0]]) - base).max() > 1e-3
  # Pooling position follows the largest id (the end token), not a fixed position.
  assert np.abs(encode([[18, 3, 19, 0, 0, 0]]) - base).max() > 1e-3


def test_resnet_tower_and_batch_stats():
  model = models.get_model("clip", **{**SMALL, "image_size": 32, "vision": "resnet", "vision_layers": (1, 1, 1, 1),
                                      "vision_width": 8, "vision_heads": 4})
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))
  assert "batch_stats" in variables
  out, updates = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(
      variables, jnp.ones((2, 32, 32, 3)))
  chex.assert_shape(out["image"], (2, 8))
  assert "text" not in out  # Only images were given.
  chex.assert_trees_all_equal_shapes(updates["batch_stats"], variables["batch_stats"])


def test_attention_pool_matches_numpy():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 2, 2, 8)).astype(np.float32)
  pool = AttentionPool2d(spatial_size=2, num_heads=2, output_dim=3)
  variables = pool.init(jax.random.PRNGKey(1), x)
  got = pool.apply(variables, x)
  p = jax.tree.map(np.asarray, variables["params"])
  tokens = x.reshape(2, 4, 8)
  tokens = np.concatenate([tokens.mean(1, keepdims=True), tokens], 1) + p["positional_embedding"]
  lin = lambda name, t: t @ p[name]["kernel"] + p[name]["bias"]
  q, k, v = lin("q_proj", tokens[:, :1]), lin("k_proj", tokens), lin("v_proj", tokens)
  heads = []
  for h in range(2):
    s = slice(4 * h, 4 * h + 4)
    logits = q[:, :, s] @ k[:, :, s].transpose(0, 2, 1) / 2.0
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads.append(weights @ v[:, :, s])
  want = lin("c_proj", np.concatenate(heads, -1)[:, 0])
  chex.assert_trees_all_close(got, want, atol=1e-5)


def test_bad_inputs(vit_clip):
  model, variables = vit_clip
  with pytest.raises(ValueError, match=r"tokens \[B, 6\]"):
    model.apply(variables, jnp.zeros((1, 5), jnp.int32), method="encode_text")
  with pytest.raises(ValueError, match="integer token ids"):
    model.apply(variables, jnp.zeros((1, 6)), method="encode_text")
  with pytest.raises(ValueError, match="16x16x3"):
    model.apply(variables, jnp.zeros((1, 8, 8, 3)))
  with pytest.raises(ValueError, match="unknown CLIP vision tower 'convnext'"):
    models.get_model("clip", vision="convnext").init(jax.random.PRNGKey(0), jnp.zeros((1, 224, 224, 3)))
