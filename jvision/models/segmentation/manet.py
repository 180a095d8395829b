"""MA-Net, Multi-scale Attention Net (Fan et al., "MA-Net: A Multi-Scale Attention Network for Liver and Tumor
Segmentation", IEEE Access 2020).

A U-Net-shaped decoder with two attention blocks: the Position-wise Attention Block (self-attention over all
positions of the deepest map, with a learnable residual weight starting at 0) and, in every decoder level, the
Multi-scale Fusion Attention Block: squeeze-and-excitation gates of the upsampled coarse map and of the skip
map, summed into one channel gate on the coarse map before concatenating the skip.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.models.segmentation import blocks
from jvision.models.segmentation.base import SegmentationModel
from jvision.models.segmentation.unet import check_decoder_channels


class PositionAttention(nn.Module):
  """``[B, h, w, C]`` -> same: ``x + gamma * softmax(Q K^T) V`` over the h*w positions."""
  reduction: int = 8
  dtype: object = jnp.float32
  param_dtype: object = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    conv = lambda width, name: nn.Conv(width, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    q = conv(max(1, c // self.reduction), "query")(x).reshape(b, h * w, -1)
    k = conv(max(1, c // self.reduction), "key")(x).reshape(b, h * w, -1)
    v = conv(c, "value")(x).reshape(b, h * w, c)
    weights = jax.nn.softmax(jnp.einsum("bqd,bkd->bqk", q, k), axis=-1)
    gamma = self.param("gamma", nn.initializers.zeros, (1,), self.param_dtype)
    return x + gamma.astype(self.dtype) * jnp.einsum("bqk,bkc->bqc", weights, v).reshape(b, h, w, c)


class MAnet(SegmentationModel):
  decoder_channels: Sequence[int] = (256, 128, 64, 32, 16)
  decoder_batch_norm: bool = True
  pab_channels: int = 64
  reduction: int = 16

  def _se_gate(self, x, width, name):
    s = jnp.mean(x, axis=(1, 2), keepdims=True)
    s = nn.relu(nn.Conv(max(1, x.shape[-1] // self.reduction), (1, 1), dtype=self.dtype,
                        param_dtype=self.param_dtype, name=f"{name}_reduce")(s))
    return nn.sigmoid(nn.Conv(width, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype,
                              name=f"{name}_expand")(s))

  def decode(self, features, train):
    check_decoder_channels(self.decoder_channels, self.encoder_depth, "MAnet")
    conv = lambda width, name: blocks.ConvBNReLU(width, batch_norm=self.decoder_batch_norm, dtype=self.dtype,
                                                 param_dtype=self.param_dtype, name=name)
    x = conv(self.pab_channels, "pab_in")(features[-1], train)
    x = PositionAttention(dtype=self.dtype, param_dtype=self.param_dtype, name="pab")(x)
    skips = list(reversed(features[:-1])) + [None]
    for i, (skip, width) in enumerate(zip(skips, self.decoder_channels)):
      x = blocks.upsample(x, 2, "bilinear")
      if skip is not None:
        x = conv(skip.shape[-1], f"mfab{i}_coarse")(x, train)
        gate = self._se_gate(x, x.shape[-1], f"mfab{i}_se_coarse") + self._se_gate(skip, x.shape[-1],
                                                                                   f"mfab{i}_se_skip")
        x = jnp.concatenate([x * gate, skip], axis=-1)
      x = conv(width, f"decoder{i}_conv1")(x, train)
      x = conv(width, f"decoder{i}_conv2")(x, train)
    return x
