"""dlib's layer semantics in flax: zero-padded residual adds, per-channel affine, RGB normalization."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models import dlib_layers


def test_add_zero_padded_by_hand():
  a = jnp.ones((1, 3, 3, 2))
  b = jnp.full((1, 4, 4, 3), 10.0)
  out = np.asarray(dlib_layers.add_zero_padded(a, b))
  assert out.shape == (1, 4, 4, 3)
  assert out[0, 0, 0, 0] == 11 and out[0, 0, 0, 2] == 10  # Channel 2 exists only in b.
  assert out[0, 3, 3, 0] == 10  # Row/column 3 exist only in b.
  assert out[0, 2, 2, 1] == 11


def test_affine_and_normalize():
  x = jnp.arange(6.0).reshape(1, 1, 2, 3)
  params = {"params": {"scale": jnp.array([1.0, 2.0, 3.0]), "shift": jnp.array([0.5, 0.0, -1.0])}}
  out = dlib_layers.Affine().apply(params, x)
  np.testing.assert_allclose(np.asarray(out)[0, 0], [[0.5, 2.0, 5.0], [3.5, 8.0, 14.0]])
  pixels = jnp.array([[128.0, 0.0, 255.0]])
  np.testing.assert_allclose(dlib_layers.normalize_rgb(pixels, (128.0, 64.0, 255.0), jnp.float32),
                             [[0.0, -0.25, 0.0]])
  with pytest.raises(ValueError, match="RGB"):
    dlib_layers.normalize_rgb(jnp.zeros((2, 4)), (0, 0, 0), jnp.float32)
