"""Training-mode batch normalization whose per-channel sums are matrix-vector products, with its own gradient.

On the CPU backend XLA rewrites a large reduction (the mean and mean square of a ``[B, H, W, C]`` activation
over ``B, H, W``, and the two sums of its backward pass) into a tree of ``reduce-window`` ops, which there
run slower than the same sums as ``ones @ x.reshape(-1, C)``. In the benchmark train steps (batch 128 on
32x32 inputs, float32), ``python experiments/benchmarks/train_throughput.py --no-torch --models cnn,resnet18
--dtypes float32 --batch-norm flax`` (flax's BatchNorm) printed 135 and 137 images/s for the CNN and 603 and
604 for ResNet-18, against 155 and 150, and 656 and 666, without the flag (alternating runs, idle machine).
``batch_norm_train`` computes what ``flax.linen.BatchNorm`` computes in training mode with its
defaults (statistics in float32 over every axis but the last, ``var = E[x^2] - E[x]^2`` clipped at 0) and
gives the textbook gradient::

    x_hat = (x - mean) / sqrt(var + eps),  y = scale * x_hat + bias
    d_bias = sum(dy),  d_scale = sum(dy * x_hat)
    d_x = scale / sqrt(var + eps) * (dy - d_bias / n - x_hat * d_scale / n)  (+ the terms of d_mean, d_var)

with every sum over the ``n = B * H * W`` positions a product with a vector of ones. Results equal flax's to
float round-off (``tests/ops/test_batch_norm.py``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax


def channel_sums(x: jax.Array) -> jax.Array:
  """``[..., C]`` -> ``[C]`` float32: the sum over every axis but the last, as a matrix-vector product."""
  rows = x.reshape(-1, x.shape[-1])
  return lax.dot_general(jnp.ones((rows.shape[0],), rows.dtype), rows, (((0,), (0,)), ((), ())),
                         preferred_element_type=jnp.float32)


def _statistics(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  count = x.size // x.shape[-1] if x.ndim and x.shape[-1] else 0
  if count == 0:  # The mean of nothing would be NaN.
    raise ValueError(f"batch statistics need at least one position per channel; got shape {x.shape}")
  mean = channel_sums(x) / count
  mean_square = channel_sums(jnp.square(x.astype(jnp.float32))) / count
  return mean, jnp.maximum(0.0, mean_square - jnp.square(mean))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def batch_norm_train(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float,
                     dtype) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``x [..., C]``, ``scale``, ``bias [C]`` -> ``(y [..., C] in dtype, mean [C], var [C])``, both float32."""
  return _batch_norm_train_forward(x, scale, bias, epsilon, dtype)[0]


def _batch_norm_train_forward(x, scale, bias, epsilon, dtype):
  mean, var = _statistics(x)
  inverse = lax.rsqrt(var + epsilon)
  y = (x.astype(jnp.float32) - mean) * (inverse * scale) + bias
  return (y.astype(dtype), mean, var), (x, scale, bias, mean, inverse)


def _batch_norm_train_backward(epsilon, dtype, residuals, cotangents):
  del epsilon, dtype
  x, scale, bias, mean, inverse = residuals
  d_y, d_mean, d_var = cotangents
  count = x.size // x.shape[-1]
  centred = x.astype(jnp.float32) - mean
  x_hat = centred * inverse
  d_y = d_y.astype(jnp.float32)
  d_bias = channel_sums(d_y)
  d_scale = channel_sums(d_y * x_hat)
  d_x = ((scale * inverse) * (d_y - d_bias / count - x_hat * (d_scale / count))
         + d_mean / count + centred * (2.0 * d_var / count))
  return d_x.astype(x.dtype), d_scale.astype(scale.dtype), d_bias.astype(bias.dtype)


batch_norm_train.defvjp(_batch_norm_train_forward, _batch_norm_train_backward)
