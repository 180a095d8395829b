"""max_pool_with_argmax / max_unpool against PyTorch's return_indices and max_unpool2d; gradients; jit."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.ops import unpool

try:
  import torch
except ImportError:  # PyTorch is an optional reference implementation: its comparisons skip without it.
  torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (optional reference) is not installed")


@pytest.mark.parametrize("window", [2, 3])
@needs_torch
def test_matches_pytorch(window):
  x = np.random.default_rng(window).normal(size=(2, 6, 9 if window == 3 else 4, 3)).astype(np.float32)
  values, indices = jax.jit(unpool.max_pool_with_argmax, static_argnums=1)(x, window)
  t_values, t_indices = torch.nn.functional.max_pool2d(torch.tensor(x).permute(0, 3, 1, 2), window,
                                                       return_indices=True)
  np.testing.assert_array_equal(values, t_values.permute(0, 2, 3, 1).numpy())
  np.testing.assert_array_equal(indices, t_indices.permute(0, 2, 3, 1).numpy())
  restored = jax.jit(unpool.max_unpool, static_argnums=2)(values, indices, x.shape[1:3])
  reference = torch.nn.functional.max_unpool2d(t_values, t_indices, window).permute(0, 2, 3, 1).numpy()
  np.testing.assert_array_equal(restored, reference)


def test_by_hand_and_gradients():
  x = jnp.array([[1.0, 5.0, 0.0, 2.0],
                 [3.0, 2.0, 7.0, 1.0]]).reshape(1, 2, 4, 1)
  values, indices = unpool.max_pool_with_argmax(x)
  np.testing.assert_array_equal(values[0, 0, :, 0], [5.0, 7.0])
  np.testing.assert_array_equal(indices[0, 0, :, 0], [1, 6])  # row * W + col: (0, 1) and (1, 2).
  out = unpool.max_unpool(values * 10, indices, (2, 4))
  np.testing.assert_array_equal(out[0, :, :, 0], [[0, 50, 0, 0], [0, 0, 70, 0]])
  # d(sum(unpool(pool(x)) * w))/dx is w at the maxima, 0 elsewhere.
  weights = jnp.arange(8.0).reshape(1, 2, 4, 1)
  grad = jax.grad(lambda x: jnp.sum(unpool.max_unpool(*unpool.max_pool_with_argmax(x), (2, 4)) * weights))(x)
  np.testing.assert_array_equal(grad[0, :, :, 0], [[0, 1, 0, 0], [0, 0, 6, 0]])
  chex.assert_shape(grad, x.shape)


def test_errors():
  with pytest.raises(ValueError, match="divisible by window=2"):
    unpool.max_pool_with_argmax(jnp.zeros((1, 3, 4, 1)))
  with pytest.raises(ValueError, match=r"must both be \[B, h, w, C\]"):
    unpool.max_unpool(jnp.zeros((1, 2, 2, 1)), jnp.zeros((1, 2, 2, 2), jnp.int32), (4, 4))
