"""PAN, Pyramid Attention Network (Li et al., "Pyramid Attention Network for Semantic Segmentation", BMVC 2018).

Feature Pyramid Attention on the deepest (stride 32) map: a 1x1 conv branch is weighted by a pyramid of
downsampled 7x7 / 5x5 / 3x3 convs (U-shaped, upsampled and summed back) and a global-pooling branch is added.
Global Attention Upsample blocks then climb to stride 4: the coarser map's global average pool, through a 1x1
conv, gates the 3x3-convolved finer encoder map, and the upsampled coarser map is added. Needs encoder depth 5.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn

from jvision.models.segmentation import blocks
from jvision.models.segmentation.base import SegmentationModel
from jvision.ops.pool import max_pool


class PAN(SegmentationModel):
  decoder_channels: int = 32
  upsampling: str = "bilinear"

  def _conv(self, width, k, name, train, x, batch_norm=True, activation=True):
    return blocks.ConvBNReLU(width, k, batch_norm=batch_norm, activation=activation, dtype=self.dtype,
                             param_dtype=self.param_dtype, name=name)(x, train)

  def _fpa(self, x, train):
    c = self.decoder_channels
    height, width = x.shape[1:3]
    main = self._conv(c, 1, "fpa_main", train, x)
    pooled = self._conv(c, 1, "fpa_pool", train, jnp.mean(x, axis=(1, 2), keepdims=True), batch_norm=False)
    # Down path: 7x7, 5x5, 3x3 at strides 2, 4, 8 (clamped for small maps).
    d1 = self._conv(1, 7, "fpa_down1", train, max_pool(x, (2, 2), (2, 2)) if height >= 2 else x)
    d2 = self._conv(1, 5, "fpa_down2", train, max_pool(d1, (2, 2), (2, 2)) if d1.shape[1] >= 2 else d1)
    d3 = self._conv(1, 3, "fpa_down3", train, max_pool(d2, (2, 2), (2, 2)) if d2.shape[1] >= 2 else d2)
    d3 = self._conv(1, 3, "fpa_down3b", train, d3)
    d2 = self._conv(1, 5, "fpa_down2b", train, d2)
    d1 = self._conv(1, 7, "fpa_down1b", train, d1)
    up = blocks.resize(d3, d2.shape[1], d2.shape[2], self.upsampling) + d2
    up = blocks.resize(up, d1.shape[1], d1.shape[2], self.upsampling) + d1
    up = blocks.resize(up, height, width, self.upsampling)
    return main * up + jnp.broadcast_to(pooled, main.shape)

  def _gau(self, fine, coarse, index, train):
    gate = jnp.mean(coarse, axis=(1, 2), keepdims=True)
    gate = nn.sigmoid(self._conv(self.decoder_channels, 1, f"gau{index}_gate", train, gate, batch_norm=False,
                                 activation=False))
    fine = self._conv(self.decoder_channels, 3, f"gau{index}_fine", train, fine)
    return fine * gate + blocks.resize(coarse, fine.shape[1], fine.shape[2], self.upsampling)

  def decode(self, features, train):
    if self.encoder_depth != 5:
      raise ValueError(f"PAN needs encoder_depth 5; got {self.encoder_depth}")
    x = self._fpa(features[4], train)
    for index, fine in ((3, features[3]), (2, features[2]), (1, features[1])):
      x = self._gau(fine, x, index, train)
    return x
