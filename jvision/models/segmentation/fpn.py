"""FPN for segmentation (Kirillov et al., "Panoptic Feature Pyramid Networks", CVPR 2019, sec. 3; pyramid of
Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017).

Lateral 1x1 convs bring the stride 4..32 encoder maps to ``pyramid_channels``; a top-down path adds each
2x-upsampled coarser level. Every level then goes through 3x3 conv-GroupNorm-ReLU + 2x upsampling stages until
stride 4 (``segmentation_channels``); the levels are merged (``"add"`` or ``"cat"``, the merge policy), dropped
out, and the head upsamples 4x. Needs ``encoder_depth >= 3``.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn

from jvision.models.segmentation import blocks
from jvision.models.segmentation.base import SegmentationModel


class FPN(SegmentationModel):
  pyramid_channels: int = 256
  segmentation_channels: int = 128
  merge_policy: str = "add"
  dropout_rate: float = 0.2
  upsampling: str = "nearest"

  def decode(self, features, train):
    if self.merge_policy not in ("add", "cat"):
      raise ValueError(f"unknown FPN merge policy {self.merge_policy!r}; known: add, cat")
    if self.encoder_depth < 3:
      raise ValueError(f"FPN needs encoder_depth >= 3 (maps at strides 4 and up); got {self.encoder_depth}")
    conv = lambda width, k, name: nn.Conv(width, (k, k), padding="SAME", dtype=self.dtype,
                                          param_dtype=self.param_dtype, name=name)
    levels = features[1:]  # Strides 4 .. 2**depth.
    top = conv(self.pyramid_channels, 1, f"lateral{len(levels) - 1}")(levels[-1])
    pyramid = [top]
    for i in reversed(range(len(levels) - 1)):
      top = blocks.upsample(top, 2, self.upsampling) + conv(self.pyramid_channels, 1, f"lateral{i}")(levels[i])
      pyramid.insert(0, top)
    outputs = []
    for i, p in enumerate(pyramid):  # Level i has stride 4 * 2**i: i upsampling stages (at least one conv).
      x = p
      for stage in range(max(i, 1)):
        x = nn.Conv(self.segmentation_channels, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype,
                    param_dtype=self.param_dtype, name=f"seg{i}_conv{stage}")(x)
        x = nn.relu(nn.GroupNorm(num_groups=min(32, self.segmentation_channels), dtype=self.dtype,
                                 param_dtype=self.param_dtype, name=f"seg{i}_norm{stage}")(x))
        if i > 0:
          x = blocks.upsample(x, 2, "bilinear")
      outputs.append(x)
    x = sum(outputs) if self.merge_policy == "add" else jnp.concatenate(outputs, axis=-1)
    return nn.Dropout(self.dropout_rate, deterministic=not train)(x)
