"""U-Net decoder on a zoo encoder (Ronneberger et al., MICCAI 2015), as segmentation_models.pytorch builds it.

Each decoder block upsamples 2x (nearest, or a learnable 2x2 transposed conv), concatenates the encoder map of
the same stride (none at the last block), applies optional scSE attention, two 3x3 conv-BN-ReLU and attention
again. ``decoder_channels`` gives one width per block, deepest first.
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax.numpy as jnp

from jvision.models.segmentation import blocks
from jvision.models.segmentation.base import SegmentationModel
from jvision.models.upsampling import ConvTranspose2d


def check_decoder_channels(channels: Sequence[int], depth: int, name: str) -> None:
  if len(channels) < depth:
    raise ValueError(f"{name} needs {depth} decoder_channels (one per encoder level); got {tuple(channels)}")


class Unet(SegmentationModel):
  decoder_channels: Sequence[int] = (256, 128, 64, 32, 16)
  decoder_batch_norm: bool = True
  decoder_attention: Optional[str] = None
  upsampling: str = "nearest"  # or "transpose"

  def decode(self, features, train):
    check_decoder_channels(self.decoder_channels, self.encoder_depth, "Unet")
    x = features[-1]
    skips = list(reversed(features[:-1])) + [None]
    for i, (skip, width) in enumerate(zip(skips, self.decoder_channels)):
      if self.upsampling == "transpose":
        x = ConvTranspose2d(x.shape[-1], 2, 2, dtype=self.dtype, param_dtype=self.param_dtype,
                            name=f"decoder_up{i}")(x)
      else:
        x = blocks.upsample(x, 2, self.upsampling)
      if skip is not None:
        x = jnp.concatenate([x, skip], axis=-1)
      x = blocks.attention(self.decoder_attention, f"decoder_attention{i}_1", self.dtype, self.param_dtype)(x)
      for j in (1, 2):
        x = blocks.ConvBNReLU(width, batch_norm=self.decoder_batch_norm, dtype=self.dtype,
                              param_dtype=self.param_dtype, name=f"decoder_block{i}_conv{j}")(x, train)
      x = blocks.attention(self.decoder_attention, f"decoder_attention{i}_2", self.dtype, self.param_dtype)(x)
    return x
