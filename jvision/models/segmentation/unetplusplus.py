"""UNet++ (Zhou et al., "UNet++: A Nested U-Net Architecture for Medical Image Segmentation", DLMIA 2018).

Nested dense skip paths: node ``X[i][j]`` (encoder level i, j upsampling steps) convolves the concatenation of
all earlier nodes of its level ``X[i][0..j-1]`` with the 2x-upsampled ``X[i+1][j-1]``; ``X[i][0]`` are the
encoder maps. The top node at stride 2 is upsampled once more to the input resolution (one more block).
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax.numpy as jnp

from jvision.models.segmentation import blocks
from jvision.models.segmentation.base import SegmentationModel
from jvision.models.segmentation.unet import check_decoder_channels


class UnetPlusPlus(SegmentationModel):
  decoder_channels: Sequence[int] = (256, 128, 64, 32, 16)
  decoder_batch_norm: bool = True
  decoder_attention: Optional[str] = None
  upsampling: str = "nearest"

  def _block(self, x, width, name, train):
    x = blocks.attention(self.decoder_attention, f"{name}_attention1", self.dtype, self.param_dtype)(x)
    for j in (1, 2):
      x = blocks.ConvBNReLU(width, batch_norm=self.decoder_batch_norm, dtype=self.dtype,
                            param_dtype=self.param_dtype, name=f"{name}_conv{j}")(x, train)
    return blocks.attention(self.decoder_attention, f"{name}_attention2", self.dtype, self.param_dtype)(x)

  def decode(self, features, train):
    depth = self.encoder_depth
    check_decoder_channels(self.decoder_channels, depth, "UnetPlusPlus")
    # Level i (stride 2**(i+1)) decodes with the width of the decoder block that outputs that stride.
    width = lambda level: self.decoder_channels[depth - 1 - level]
    nodes = {(i, 0): f for i, f in enumerate(features)}
    for j in range(1, depth):
      for i in range(depth - j):
        up = blocks.upsample(nodes[(i + 1, j - 1)], 2, self.upsampling)
        x = jnp.concatenate([nodes[(i, k)] for k in range(j)] + [up], axis=-1)
        nodes[(i, j)] = self._block(x, width(i), f"x_{i}_{j}", train)
    x = blocks.upsample(nodes[(0, depth - 1)], 2, self.upsampling)
    return self._block(x, self.decoder_channels[depth - 1], "x_top", train)
