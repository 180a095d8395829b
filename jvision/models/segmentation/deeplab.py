"""DeepLabV3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017) and
DeepLabV3+ (Chen et al., "Encoder-Decoder with Atrous Separable Convolution", ECCV 2018).

ASPP: parallel 1x1 conv, three 3x3 atrous convs (rates 6, 12, 18 at output stride 16; doubled at 8) and an
image-level pooling branch, each conv-BN-ReLU, concatenated and projected by a 1x1 conv-BN-ReLU (dropout 0.5).
``output_stride`` (8 or 16) is the stride of the map ASPP sees. Our encoders are not dilated: the map at
``output_stride`` is the encoder's own map of that stride (the deeper stages are not run), so ASPP's atrous
rates carry the large receptive field instead of dilated deep stages; ``required_multiple`` is
``output_stride``. DeepLabV3+ adds a decoder: the ASPP output, upsampled to stride 4, is concatenated with a
48-channel 1x1 projection of the stride-4 encoder map and refined by a 3x3 (depthwise-separable) conv.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision.models.segmentation import blocks
from jvision.models.segmentation.base import SegmentationModel

OUTPUT_STRIDES = (8, 16)


class SeparableConvBNReLU(nn.Module):
  """Depthwise 3x3 (dilated) conv, pointwise 1x1 conv, BN, ReLU."""
  features: int
  dilation: int = 1
  dtype: object = jnp.float32
  param_dtype: object = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    d = self.dilation
    x = nn.Conv(x.shape[-1], (3, 3), padding=((d, d), (d, d)), kernel_dilation=(d, d),
                feature_group_count=x.shape[-1], use_bias=False, dtype=self.dtype,
                param_dtype=self.param_dtype, name="depthwise")(x)
    return blocks.ConvBNReLU(self.features, 1, dtype=self.dtype, param_dtype=self.param_dtype,
                             name="pointwise")(x, train)


class ASPP(nn.Module):
  """``[B, h, w, C]`` -> ``[B, h, w, features]`` (atrous spatial pyramid pooling)."""
  features: int = 256
  rates: Sequence[int] = (12, 24, 36)
  separable: bool = False
  dropout_rate: float = 0.5
  dtype: object = jnp.float32
  param_dtype: object = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    conv = lambda k, d, name: blocks.ConvBNReLU(self.features, k, dilation=d, dtype=self.dtype,
                                                param_dtype=self.param_dtype, name=name)
    branches = [conv(1, 1, "conv1x1")(x, train)]
    for rate in self.rates:
      if self.separable:
        branches.append(SeparableConvBNReLU(self.features, rate, self.dtype, self.param_dtype,
                                            name=f"atrous{rate}")(x, train))
      else:
        branches.append(conv(3, rate, f"atrous{rate}")(x, train))
    pooled = jnp.mean(x, axis=(1, 2), keepdims=True)
    # No batch norm on the 1x1 pooled map: one value per channel and image has no spatial statistics.
    pooled = blocks.ConvBNReLU(self.features, 1, batch_norm=False, dtype=self.dtype,
                               param_dtype=self.param_dtype, name="pooling")(pooled, train)
    branches.append(jnp.broadcast_to(pooled, branches[0].shape))
    x = conv(1, 1, "project")(jnp.concatenate(branches, axis=-1), train)
    return nn.Dropout(self.dropout_rate, deterministic=not train)(x)


def _rates(output_stride: int, base: Sequence[int]) -> tuple[int, ...]:
  if output_stride not in OUTPUT_STRIDES:
    raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}; got {output_stride}")
  return tuple(r * (16 // output_stride) for r in base)


def _map_at_stride(features, output_stride):
  index = output_stride.bit_length() - 2  # Features start at stride 2: stride 8 -> 2, 16 -> 3.
  if len(features) <= index:
    raise ValueError(f"output_stride {output_stride} needs encoder_depth >= {index + 1}; got {len(features)}")
  return features[index]


class DeepLabV3(SegmentationModel):
  encoder_depth: int = 4  # Overridden by output_stride: the encoder runs to that stride.
  output_stride: int = 8
  decoder_channels: int = 256
  atrous_rates: Sequence[int] = (6, 12, 18)  # at output stride 16

  def required_multiple(self) -> int:
    _rates(self.output_stride, self.atrous_rates)
    return self.output_stride

  def decode(self, features, train):
    x = _map_at_stride(features, self.output_stride)
    x = ASPP(self.decoder_channels, _rates(self.output_stride, self.atrous_rates), dtype=self.dtype,
             param_dtype=self.param_dtype, name="aspp")(x, train)
    return blocks.ConvBNReLU(self.decoder_channels, 3, dtype=self.dtype, param_dtype=self.param_dtype,
                             name="decoder_conv")(x, train)


class DeepLabV3Plus(SegmentationModel):
  encoder_depth: int = 4
  output_stride: int = 16
  decoder_channels: int = 256
  atrous_rates: Sequence[int] = (6, 12, 18)
  low_level_channels: int = 48

  def required_multiple(self) -> int:
    _rates(self.output_stride, self.atrous_rates)
    return self.output_stride

  def decode(self, features, train):
    x = _map_at_stride(features, self.output_stride)
    x = ASPP(self.decoder_channels, _rates(self.output_stride, self.atrous_rates), separable=True,
             dtype=self.dtype, param_dtype=self.param_dtype, name="aspp")(x, train)
    x = SeparableConvBNReLU(self.decoder_channels, dtype=self.dtype, param_dtype=self.param_dtype,
                            name="aspp_conv")(x, train)
    low = features[1]  # stride 4
    low = blocks.ConvBNReLU(self.low_level_channels, 1, dtype=self.dtype, param_dtype=self.param_dtype,
                            name="low_level_project")(low, train)
    x = blocks.resize(x, low.shape[1], low.shape[2], "bilinear")
    x = jnp.concatenate([x, low], axis=-1)
    return SeparableConvBNReLU(self.decoder_channels, dtype=self.dtype, param_dtype=self.param_dtype,
                               name="decoder_conv")(x, train)
