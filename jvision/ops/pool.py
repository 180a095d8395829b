"""Max pooling whose backward pass avoids XLA's select-and-scatter on CPU.

``flax.linen.max_pool`` lowers to ``reduce_window``, whose gradient is XLA's select-and-scatter: on the CPU
backend, forward and gradient of the benchmark CNN's 2x2/2 pools (batch 128, 32x32 to 8x8 maps) and of
ResNet's 3x3/2 stem pooling took several times as long as the path below (``python
experiments/benchmarks/pool_paths.py``, table in README). ``max_pool`` takes the maximum over the window's
strided slices of the input (one per window offset), padded with -inf as flax pads, keeping the index of the
first maximum (a strict ``>`` in the window's row-major order, which is the element select-and-scatter picks),
and its custom gradient places each output's cotangent back through one zero-padded strided slice per window
offset, masked by that index: elementwise work that XLA fuses. Values equal flax's bit for bit; so do
gradients wherever windows do not overlap, ties included (overlapping windows sum an input's cotangents in
another order: equal to round-off).

The gradient deliberately does not compare the input with the pooled maximum (what ``jnp.max``'s own
gradient does): XLA may compute the input twice, in two fusions that round differently, and then no element
equals the maximum and the gradient is 0/0 (seen as NaN in the YOLO overfitting test with XLA optimizations
off). An earlier version pooled windows that tile the map through a reshape and an ``argmax``; the slices
are about 2-3x faster there too (same benchmark). Integer inputs, negative (cropping) padding and other
backends go to ``flax.linen.max_pool`` unchanged.
"""

from __future__ import annotations

import functools
import itertools
from typing import Optional, Sequence, Union

import jax
import jax.numpy as jnp
from flax import linen as nn
from jax import lax


def _pads(shape: Sequence[int], window: tuple[int, ...], strides: tuple[int, ...],
          padding: Union[str, Sequence[tuple[int, int]]]) -> tuple[tuple[int, int], ...]:
  spatial = shape[1:-1]
  pads = lax.padtype_to_pads(spatial, window, strides, padding) if isinstance(padding, str) else padding
  return tuple((int(lo), int(hi)) for lo, hi in pads)


def _window_slices(x, window, strides, pads):
  """Per window offset (row-major), the strided slice ``[B, *outputs, C]`` of the -inf-padded input it pools."""
  padded = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-jnp.inf)
  outputs = [(size - k) // s + 1 for size, k, s in zip(padded.shape[1:-1], window, strides)]
  slices = []
  for offset in itertools.product(*(range(k) for k in window)):
    start = (0, *offset, 0)
    limit = (padded.shape[0], *(o + (n - 1) * s + 1 for o, n, s in zip(offset, outputs, strides)),
             padded.shape[-1])
    slices.append(lax.slice(padded, start, limit, (1, *strides, 1)))
  return slices


def _first_maximum(slices):
  best, first = slices[0], jnp.zeros(slices[0].shape, jnp.int32)
  for index, candidate in enumerate(slices[1:], start=1):
    larger = candidate > best
    best, first = jnp.where(larger, candidate, best), jnp.where(larger, index, first)
  return best, first


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _strided_max_pool(x, window, strides, pads):
  return _first_maximum(_window_slices(x, window, strides, pads))[0]


def _strided_max_pool_forward(x, window, strides, pads):
  best, first = _first_maximum(_window_slices(x, window, strides, pads))
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
  """``flax.linen.max_pool`` (``[B, *spatial, C]``), on CPU through ``_strided_max_pool`` (module
  docstring)."""
  window = tuple(window_shape)
  strides = tuple(strides) if strides is not None else (1,) * len(window)
  if jax.default_backend() == "cpu" and x.ndim == len(window) + 2 and jnp.issubdtype(x.dtype, jnp.floating):
    pads = _pads(x.shape, window, strides, padding)
    if all(p >= 0 for pair in pads for p in pair):
      return _strided_max_pool(x, window, strides, pads)
  return nn.max_pool(x, window, strides=strides, padding=padding)
