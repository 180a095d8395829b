"""The image transformation network of fast style transfer (Johnson, Alahi & Fei-Fei, "Perceptual Losses for
Real-Time Style Transfer and Super-Resolution", ECCV 2016, supplementary Table 1), with instance
normalization (Ulyanov, Vedaldi & Lempitsky, "Instance Normalization", 2016) and nearest-neighbour
upsampling followed by a convolution instead of fractionally strided convolutions (Odena et al., "Deconvolution
and Checkerboard Artifacts", Distill 2016).

Layout: reflection-padded 9x9 conv (``width``), two stride-2 3x3 convs (``2 width``, ``4 width``),
``num_residual`` residual blocks of two 3x3 convs at ``4 width``, two x2 upsamplings with 3x3 convs
(``2 width``, ``width``) and a 9x9 conv to RGB, squashed by a sigmoid into [0, 1]. Each conv but the last is
followed by instance norm and ReLU (the residual blocks' second conv has no ReLU). The paper's sizes are
``width=32, num_residual=5``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

Dtype = Any


class ConvNormReLU(nn.Module):
  """Reflection pad, conv, instance norm, optional ReLU: ``[B, H, W, C] -> [B, H/stride, W/stride, features]``."""
  features: int
  kernel_size: int
  stride: int = 1
  relu: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    pad = self.kernel_size // 2
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    x = nn.Conv(self.features, (self.kernel_size,) * 2, (self.stride,) * 2, padding="VALID", use_bias=False,
                dtype=self.dtype, param_dtype=self.param_dtype)(x)
    x = nn.InstanceNorm(epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return nn.relu(x) if self.relu else x


class TransformNet(nn.Module):
  """RGB ``[B, H, W, 3]`` in [0, 1] (H, W multiples of 4, at least 16) -> stylized RGB ``[B, H, W, 3]`` in
  [0, 1], float32."""
  width: int = 32
  num_residual: int = 5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    del train  # Instance norm has no train/eval difference.
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"TransformNet expects RGB images [B, H, W, 3]; got shape {tuple(images.shape)}")
    height, width = images.shape[1:3]
    if height % 4 or width % 4 or min(height, width) < 16:
      raise ValueError(f"TransformNet needs H and W multiples of 4 and at least 16; got {height}x{width}")
    block = functools.partial(ConvNormReLU, dtype=self.dtype, param_dtype=self.param_dtype)
    x = jnp.asarray(images, self.dtype) * 2.0 - 1.0
    x = block(self.width, 9, name="conv1")(x)
    x = block(2 * self.width, 3, 2, name="down1")(x)
    x = block(4 * self.width, 3, 2, name="down2")(x)
    for i in range(self.num_residual):
      y = block(4 * self.width, 3, name=f"residual{i}_conv1")(x)
      x = x + block(4 * self.width, 3, relu=False, name=f"residual{i}_conv2")(y)
    for i, features in enumerate((2 * self.width, self.width), start=1):
      x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
      x = block(features, 3, name=f"up{i}")(x)
    x = jnp.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    x = nn.Conv(3, (9, 9), padding="VALID", dtype=self.dtype, param_dtype=self.param_dtype, name="to_rgb")(x)
    return nn.sigmoid(jnp.asarray(x, jnp.float32))
