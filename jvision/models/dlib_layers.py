"""Layers of dlib's DNN toolkit that flax.linen lacks, with dlib's exact semantics.

- ``Affine``: per-channel ``x * scale + shift`` (dlib's ``affine_``, batch norm folded for inference).
- ``add_zero_padded``: dlib's ``add_prev_`` adds two tensors of different shapes by treating everything
  outside the smaller one as zero (top-left aligned), so the output has the larger size in every dimension.
- ``conv``: dlib's ``con_`` with its explicit symmetric padding (dlib pads ``k // 2`` for stride 1 and 0 for
  larger strides by default; the padding read from the file is used as is).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax.numpy as jnp
from flax import linen as nn


class Affine(nn.Module):
  """``x [..., C] -> x * scale + shift`` with per-channel ``scale``/``shift`` params of shape ``[C]``."""

  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    channels = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (channels,), self.param_dtype)
    shift = self.param("shift", nn.initializers.zeros, (channels,), self.param_dtype)
    return x * scale.astype(self.dtype) + shift.astype(self.dtype)


def conv(features: int, kernel: int, stride: int, padding: int, name: str, dtype: Any,
         param_dtype: Any) -> nn.Conv:
  """dlib's ``con_<features, kernel, kernel, stride, stride>`` with symmetric ``padding``."""
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=((padding, padding),) * 2,
                 dtype=dtype, param_dtype=param_dtype, name=name)


def add_zero_padded(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
  """``a [B, H1, W1, C1] + b [B, H2, W2, C2]`` -> ``[B, max H, max W, max C]``, missing values as zeros."""
  shape = tuple(max(sa, sb) for sa, sb in zip(a.shape, b.shape))

  def pad(x: jnp.ndarray) -> jnp.ndarray:
    return jnp.pad(x, [(0, full - have) for have, full in zip(x.shape, shape)])

  return pad(a) + pad(b)


def normalize_rgb(images: jnp.ndarray, mean_rgb: Sequence[float], dtype: Any) -> jnp.ndarray:
  """dlib's RGB input layers: ``(pixel - mean) / 256`` per channel, ``images [..., 3]`` in 0..255."""
  if images.shape[-1] != 3:
    raise ValueError(f"expected RGB images [..., 3], got shape {images.shape}")
  return (images.astype(jnp.float32) - jnp.asarray(mean_rgb, jnp.float32)).astype(dtype) / 256.0
