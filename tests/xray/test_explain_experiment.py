"""experiments/xray_explain.py's measures, on maps and autoencoders whose answers are known by hand."""

import importlib.util
import os

import jax.numpy as jnp
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _experiment():
  spec = importlib.util.spec_from_file_location("xray_explain", os.path.join(REPO, "experiments", "xray_explain.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_localization_share_and_top_k_precision_by_hand():
  experiment = _experiment()
  localization = experiment.localization
  mask = np.zeros((4, 4), bool)
  mask[0, :2] = True  # Two pixels.
  heat = np.zeros((4, 4))
  heat[0, 0], heat[0, 1], heat[3, 3] = 3.0, 1.0, 4.0
  share, precision = localization(heat, mask)
  assert share == 0.5  # (3 + 1) / 8.
  assert precision == 0.5  # The top two pixels are (3, 3) and (0, 0).
  assert localization(np.zeros((4, 4)), mask)[0] == 0.0  # No change: no share, and no division by zero.
  assert experiment.share_inside(heat, ~mask) == 0.5 and experiment.share_inside(heat, mask | ~mask) == 1.0


def test_autoencoder_roundtrip_of_identity_and_blurring_autoencoders():
  roundtrip = _experiment().autoencoder_roundtrip
  rng = np.random.default_rng(0)
  image = jnp.asarray(rng.uniform(-1024, 1024, size=(8, 8, 1)), jnp.float32)
  change = np.zeros((1, 8, 8, 1), np.float32)
  change[0, 2:4, 2:5] = 1.0
  # Identity autoencoder (z = x / 1024): the change comes back as it is, scaled to 0.05 |z| * 1024 / |change|.
  out = np.asarray(roundtrip(lambda x: x / 1024.0, lambda z: z * 1024.0, image, jnp.asarray(change)))
  scale = 0.05 * np.linalg.norm(np.asarray(image) / 1024.0) * 1024.0 / np.linalg.norm(change)
  np.testing.assert_allclose(out, change[0, ..., 0] * scale, rtol=1e-5, atol=1e-3)
  # A decoder that averages 2x2 blocks cannot draw the change's edges: some of it leaks outside.
  encode = lambda x: x.reshape(1, 4, 2, 4, 2, 1).mean(axis=(2, 4)) / 1024.0
  decode = lambda z: jnp.repeat(jnp.repeat(z, 2, axis=1), 2, axis=2) * 1024.0
  out = np.asarray(roundtrip(encode, decode, image, jnp.asarray(change)))
  inside = change[0, ..., 0] > 0
  # The gradient weights block (1, 1) by its 4 inside pixels and block (1, 2) by its 2; each block's 4 pixels
  # change together: inside 4 * 4 + 2 * 2 = 20 of 4 * 4 + 4 * 2 = 24.
  np.testing.assert_allclose(out[inside].sum() / out.sum(), 20 / 24, rtol=1e-5)
