"""Max pooling whose backward pass avoids XLA's select-and-scatter on CPU.

``flax.linen.max_pool`` lowers to ``reduce_window``, whose gradient is XLA's select-and-scatter: on the CPU
backend, forward and gradient of the benchmark CNN's 2x2/2 pools (batch 128, 32x32 to 8x8 maps) took 5-12x
as long as the path below (``python experiments/benchmarks/pool_paths.py``, table in README). When the windows tile the input
exactly (window == strides, the map divisible by the window, no padding), each window is a slice of a
reshaped array: ``max_pool`` moves the window's elements to a last axis, takes their maximum and the index of
the first maximum (``argmax``), and its custom gradient sends each output's cotangent to that index (a
one-hot product and the inverse reshape, which XLA fuses). The first maximum is the element XLA's
select-and-scatter picks too, so values and gradients equal flax's bit for bit, ties included.

The gradient deliberately does not compare the input with the pooled maximum (what ``jnp.max``'s own
gradient does): XLA may compute the input twice, in two fusions that round differently, and then no element
equals the maximum and the gradient is 0/0 (seen as NaN in the YOLO overfitting test with XLA optimizations
off).

Overlapping or padded windows (ResNet's and DenseNet's 3x3/2 stem pooling) have no reshape form. There
``max_pool`` takes the maximum over the window's strided slices of the input, padded with -inf as flax pads,
keeping the index of the first maximum (a strict ``>``, in the window's row-major order, which is
select-and-scatter's order), and its custom gradient places each output's cotangent back through one
zero-padded strided slice per window offset, masked by that index: elementwise work that XLA fuses. For the
ResNet stem's pooling (batch 128, 16x16x64) forward and gradient went from 65 to under 10 ms (same benchmark).
Other backends go to ``flax.linen.max_pool`` unchanged.
"""

from __future__ import annotations

import functools
import itertools
from typing import Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax


def _tiles_exactly(shape: Sequence[int], window: Sequence[int], strides: Sequence[int],
                   padding: Union[str, Sequence[tuple[int, int]]]) -> bool:
  if len(shape) != len(window) + 2 or tuple(window) != tuple(strides):
    return False
  spatial = shape[1:-1]
  if any(size % k for size, k in zip(spatial, window)):
    return False
  pads = lax.padtype_to_pads(spatial, window, strides, padding) if isinstance(padding, str) else padding
  return all(tuple(p) == (0, 0) for p in pads)


def _windows_last_permutation(num_spatial: int) -> tuple[int, ...]:
  """For ``[B, s1 / k1, k1, ..., sn / kn, kn, C]``: the order ``[B, s1 / k1, ..., sn / kn, C, k1, ..., kn]``."""
  outer = tuple(range(1, 2 * num_spatial, 2))
  return (0, *outer, 2 * num_spatial + 1, *(axis + 1 for axis in outer))


def _split_windows(x: jax.Array, window: tuple[int, ...]) -> jax.Array:
  """``[B, *spatial, C]`` -> ``[B, *outputs, C, K]``: each window's ``K = prod(window)`` elements last."""
  split = [x.shape[0]]
  for size, k in zip(x.shape[1:-1], window):
    split += [size // k, k]
  windows = x.reshape(*split, x.shape[-1]).transpose(_windows_last_permutation(len(window)))
  return windows.reshape(*windows.shape[:len(window) + 2], -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _tiled_max_pool(x: jax.Array, window: tuple[int, ...]) -> jax.Array:
  return _split_windows(x, window).max(axis=-1)


def _tiled_max_pool_forward(x, window):
  windows = _split_windows(x, window)
  first = jnp.argmax(windows, axis=-1)
  return jnp.take_along_axis(windows, first[..., None], axis=-1)[..., 0], first


def _tiled_max_pool_backward(window, first, cotangent):
  batch, *outputs, channels = first.shape
  shape = (batch, *(size * k for size, k in zip(outputs, window)), channels)
  onehot = (first[..., None] == jnp.arange(int(np.prod(window)))).astype(cotangent.dtype)
  windows = (onehot * cotangent[..., None]).reshape(*first.shape, *window)
  inverse = np.argsort(_windows_last_permutation(len(window)))
  return (windows.transpose(inverse).reshape(shape),)


_tiled_max_pool.defvjp(_tiled_max_pool_forward, _tiled_max_pool_backward)


def _pads(shape: Sequence[int], window: tuple[int, ...], strides: tuple[int, ...],
          padding: Union[str, Sequence[tuple[int, int]]]) -> tuple[tuple[int, int], ...]:
  spatial = shape[1:-1]
  pads = lax.padtype_to_pads(spatial, window, strides, padding) if isinstance(padding, str) else padding
  return tuple((int(lo), int(hi)) for lo, hi in pads)


def _window_slices(x, window, strides, pads):
  """The padded input and, per window offset (row-major), the strided slice ``[B, *outputs, C]`` it pools."""
  padded = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-jnp.inf)
  outputs = [(size - k) // s + 1 for size, k, s in zip(padded.shape[1:-1], window, strides)]
  slices = []
  for offset in itertools.product(*(range(k) for k in window)):
    start = (0, *offset, 0)
    limit = (padded.shape[0], *(o + (n - 1) * s + 1 for o, n, s in zip(offset, outputs, strides)),
             padded.shape[-1])
    slices.append(lax.slice(padded, start, limit, (1, *strides, 1)))
  return padded, slices


def _first_maximum(slices):
  best, first = slices[0], jnp.zeros(slices[0].shape, jnp.int32)
  for index, candidate in enumerate(slices[1:], start=1):
    larger = candidate > best
    best, first = jnp.where(larger, candidate, best), jnp.where(larger, index, first)
  return best, first


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _strided_max_pool(x, window, strides, pads):
  return _first_maximum(_window_slices(x, window, strides, pads)[1])[0]


def _strided_max_pool_forward(x, window, strides, pads):
  best, first = _first_maximum(_window_slices(x, window, strides, pads)[1])
  return best, (first, x.shape)


def _strided_max_pool_backward(window, strides, pads, residuals, cotangent):
  first, shape = residuals
  padded = [size + lo + hi for size, (lo, hi) in zip(shape[1:-1], pads)]
  grad = None
  for index, offset in enumerate(itertools.product(*(range(k) for k in window))):
    routed = jnp.where(first == index, cotangent, jnp.zeros((), cotangent.dtype))
    config = [(0, 0, 0)]
    for o, n, s, size in zip(offset, first.shape[1:-1], strides, padded):
      config.append((o, size - o - (n - 1) * s - 1, s - 1))
    placed = lax.pad(routed, jnp.zeros((), cotangent.dtype), (*config, (0, 0, 0)))
    grad = placed if grad is None else grad + placed
  crop = tuple(slice(lo, lo + size) for (lo, _), size in zip(pads, shape[1:-1]))
  return (grad[(slice(None), *crop, slice(None))],)


_strided_max_pool.defvjp(_strided_max_pool_forward, _strided_max_pool_backward)


def max_pool(x: jax.Array, window_shape: Sequence[int], strides: Optional[Sequence[int]] = None,
             padding: Union[str, Sequence[tuple[int, int]]] = "VALID") -> jax.Array:
  """``flax.linen.max_pool`` (``[B, *spatial, C]``) on CPU through ``_tiled_max_pool`` when the windows tile
  ``x``, else through ``_strided_max_pool`` (module docstring)."""
  window = tuple(window_shape)
  strides = tuple(strides) if strides is not None else (1,) * len(window)
  if jax.default_backend() == "cpu" and _tiles_exactly(x.shape, window, strides, padding):
    return _tiled_max_pool(x, window)
  if (jax.default_backend() == "cpu" and x.ndim == len(window) + 2 and jnp.issubdtype(x.dtype, jnp.floating)
      and all(p >= 0 for pair in _pads(x.shape, window, strides, padding) for p in pair)):
    return _strided_max_pool(x, window, strides, _pads(x.shape, window, strides, padding))
  return nn.max_pool(x, window, strides=strides, padding=padding)
