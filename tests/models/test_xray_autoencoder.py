"""Tests for jvision/models/xray_autoencoder.py."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision import models
from jvision.models import xray_autoencoder


def test_encode_decode_shapes_and_reconstruction_is_their_composition():
  model = xray_autoencoder.XrayAutoencoder(features=(8, 16), latent_features=4)
  x = jax.random.uniform(jax.random.key(0), (2, 16, 24, 1), minval=-1024, maxval=1024)
  variables = jax.jit(model.init)(jax.random.key(1), x)
  z = model.apply(variables, x, method=model.encode)
  chex.assert_shape(z, (2, 4, 6, 4))  # Two stride-2 stages: /4.
  recon = model.apply(variables, z, method=model.decode)
  chex.assert_shape(recon, (2, 16, 24, 1))
  assert recon.dtype == jnp.float32
  chex.assert_trees_all_close(model.apply(variables, x, train=True), recon, atol=1e-3)
  assert set(variables) == {"params"}  # GroupNorm: no batch statistics to carry.


def test_decoder_output_is_in_xrv_units():
  # The last conv's bias shifts the output by 1024 * bias: set it to 0.5 with zero weights -> 512 everywhere.
  model = xray_autoencoder.XrayAutoencoder(features=(8,), latent_features=2)
  x = jnp.zeros((1, 8, 8, 1))
  variables = model.init(jax.random.key(0), x)
  params = jax.tree.map(lambda p: p, variables["params"])
  params["to_image"] = {"kernel": jnp.zeros_like(params["to_image"]["kernel"]),
                        "bias": jnp.full_like(params["to_image"]["bias"], 0.5)}
  np.testing.assert_allclose(model.apply({"params": params}, x), 512.0)


def test_bad_inputs_are_clear_errors():
  model = models.get_model("xray_autoencoder", features=(8, 8), latent_features=2)
  with pytest.raises(ValueError, match="divisible by 4"):
    model.init(jax.random.key(0), jnp.zeros((1, 10, 8, 1)))
  with pytest.raises(ValueError, match=r"\[B, H, W, 1\]"):
    model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
  with pytest.raises(ValueError, match="unknown norm 'batch'; known: group, pixel"):
    models.get_model("xray_autoencoder", features=(8,), norm="batch").init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))


def test_pixel_norm_keeps_a_latent_change_inside_the_decoders_receptive_field():
  # Latent 8x8 for a 32x32 image (two stages). A change at latent cell (0, 0) reaches, through the 3x3
  # from_latent conv (+-1 cell), two upsampling blocks (2x nearest, two 3x3 convs each) and the 3x3 output conv,
  # at most pixels 0..14 along each axis: ((1 + 1) * 2 + 2) * 2 + 2 + 1 = 15.
  latent = jax.random.normal(jax.random.key(1), (1, 8, 8, 4))
  moved = latent.at[0, 0, 0, :].add(3.0)
  changes = {}
  for norm in ("pixel", "group"):
    model = xray_autoencoder.XrayAutoencoder(features=(8, 8), latent_features=4, norm=norm)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
    decode = lambda z: model.apply(variables, z, method=model.decode)
    changes[norm] = np.abs(np.asarray(decode(moved) - decode(latent)))[0, ..., 0]
  assert changes["pixel"][:15, :15].max() > 0
  np.testing.assert_array_equal(changes["pixel"][15:, :], 0.0)
  np.testing.assert_array_equal(changes["pixel"][:, 15:], 0.0)
  assert changes["group"][15:, 15:].min() > 0  # GroupNorm's statistics carry the change everywhere.



def test_latent_noise_perturbs_only_training_reconstructions_relative_to_the_latent_scale():
  model = xray_autoencoder.XrayAutoencoder(features=(8,), latent_features=4, norm="pixel", latent_noise=0.5)
  x = jax.random.uniform(jax.random.key(0), (2, 8, 8, 1), minval=-1024, maxval=1024)
  variables = model.init(jax.random.key(1), x)
  clean = model.apply(variables, model.apply(variables, x, method=model.encode), method=model.decode)
  chex.assert_trees_all_close(model.apply(variables, x), clean)  # Evaluation: no noise.
  rngs = {"dropout": jax.random.key(2)}
  noisy = model.apply(variables, x, train=True, rngs=rngs)
  assert float(jnp.mean(jnp.abs(noisy - clean))) > 1.0
  chex.assert_trees_all_close(model.apply(variables, x, train=True, rngs=rngs), noisy)  # Reproducible.
  # The noise is relative to the latent's RMS: scaling the latent by 10 (to_latent) and undoing it in the
  # decoder's first conv (from_latent) leaves the clean and the noisy reconstructions unchanged.
  params = jax.tree.map(lambda p: p, variables["params"])
  params["to_latent"] = jax.tree.map(lambda p: 10.0 * p, params["to_latent"])
  params["from_latent"] = dict(params["from_latent"], kernel=params["from_latent"]["kernel"] / 10.0)
  chex.assert_trees_all_close(model.apply({"params": params}, x, train=True, rngs=rngs), noisy, rtol=1e-4,
                              atol=1e-2)
  # Small noise: the change is about proportional to it (the decoder is smooth).
  small = [jnp.abs(model.clone(latent_noise=s).apply(variables, x, train=True, rngs=rngs) - clean).mean()
           for s in (1e-4, 2e-4)]
  np.testing.assert_allclose(float(small[1] / small[0]), 2.0, rtol=0.05)
  with pytest.raises(ValueError, match="latent_noise must be >= 0; got -0.1"):
    xray_autoencoder.XrayAutoencoder(features=(8,), latent_noise=-0.1).init(jax.random.key(0), x)
