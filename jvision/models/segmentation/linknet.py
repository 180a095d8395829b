"""LinkNet (Chaurasia & Culurciello, "LinkNet: Exploiting Encoder Representations for Efficient Semantic
Segmentation", VCIP 2017).

Each decoder block reduces channels 4x with a 1x1 conv, upsamples 2x with a 3x3 stride-2 transposed conv
(learnable), expands with a 1x1 conv to the channels of the next-shallower encoder map and *adds* it
(rather than concatenating, which keeps the decoder light).
"""

from __future__ import annotations

from jvision.models.segmentation import blocks
from jvision.models.segmentation.base import SegmentationModel
from jvision.models.upsampling import ConvTranspose2d


class Linknet(SegmentationModel):
  decoder_channels: int = 32  # width of the last block (smp: the segmentation head's input)
  decoder_batch_norm: bool = True

  def decode(self, features, train):
    x = features[-1]
    skips = list(reversed(features[:-1])) + [None]
    for i, skip in enumerate(skips):
      out_channels = skip.shape[-1] if skip is not None else self.decoder_channels
      conv = lambda width, k, name: blocks.ConvBNReLU(width, k, batch_norm=self.decoder_batch_norm,
                                                       dtype=self.dtype, param_dtype=self.param_dtype,
                                                       name=name)
      y = conv(max(1, x.shape[-1] // 4), 1, f"decoder{i}_reduce")(x, train)
      # 3x3, stride 2, padding 1, output_padding 1: n -> 2n.
      y = ConvTranspose2d(y.shape[-1], 3, 2, 1, 1, dtype=self.dtype, param_dtype=self.param_dtype,
                          name=f"decoder{i}_up")(y)
      y = conv(out_channels, 1, f"decoder{i}_expand")(y, train)
      x = y + skip if skip is not None else y
    return x
