"""PSPNet (Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017, sec. 3.3).

The pyramid pooling module average-pools the deepest encoder map to 1x1, 2x2, 3x3 and 6x6 bins (adaptive
pooling, so any map size works), reduces each with a 1x1 conv-BN-ReLU, upsamples them bilinearly back and
concatenates them with the map; a 1x1 conv-BN-ReLU gives ``psp_channels``. smp's default uses a shallow encoder
(depth 3, stride 8), which keeps the pooled map large enough for 6 bins.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision.models.segmentation import blocks
from jvision.models.segmentation.base import SegmentationModel
from jvision.models.vgg import adaptive_average_pool


class PSPNet(SegmentationModel):
  encoder_depth: int = 3
  psp_channels: int = 512
  bins: Sequence[int] = (1, 2, 3, 6)
  psp_batch_norm: bool = True
  dropout_rate: float = 0.2

  def decode(self, features, train):
    x = features[-1]
    height, width = x.shape[1:3]
    branches = [x]
    for size in self.bins:
      y = adaptive_average_pool(x, size)
      y = blocks.ConvBNReLU(x.shape[-1] // len(self.bins), 1, batch_norm=self.psp_batch_norm and size > 1,
                            dtype=self.dtype, param_dtype=self.param_dtype, name=f"pool{size}")(y, train)
      branches.append(blocks.resize(y, height, width, "bilinear"))
    x = jnp.concatenate(branches, axis=-1)
    x = blocks.ConvBNReLU(self.psp_channels, 1, batch_norm=self.psp_batch_norm, dtype=self.dtype,
                          param_dtype=self.param_dtype, name="bottleneck")(x, train)
    return nn.Dropout(self.dropout_rate, deterministic=not train)(x)
