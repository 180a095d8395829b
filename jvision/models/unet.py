"""U-Net (Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image Segmentation", MICCAI 2015).

A contracting path of ``depth`` levels (two 3x3 conv + ReLU each, 2x2 max-pool between levels), an expanding
path whose every level up-samples with a learnable 2x2 stride-2 up-convolution (``ConvTranspose2d``) that
halves the channels, concatenates the encoder level of the same resolution (the skip connection) and applies
two 3x3 convs; a 1x1 conv gives the class scores. Unlike the paper the convs are "same"-padded (output size =
input size, no cropping of skips) and optionally batch-normalized, as most re-implementations do.

Binary segmentation is ``num_classes=1`` (one logit per pixel, for a sigmoid loss); multi-class is
``num_classes=K`` (softmax). Input height and width must be divisible by ``2 ** (depth - 1)``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import inputs, layers
from jvision.models.upsampling import ConvTranspose2d
from jvision.ops.pool import max_pool

Dtype = Any


class DoubleConv(nn.Module):
  """Two (3x3 conv, [batch norm], ReLU). ``[B, H, W, C]`` -> ``[B, H, W, features]``."""
  features: int
  batch_norm: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    for i in (1, 2):
      x = nn.Conv(self.features, (3, 3), padding=((1, 1), (1, 1)), use_bias=not self.batch_norm,
                  dtype=self.dtype, param_dtype=self.param_dtype, name=f"conv{i}")(x)
      if self.batch_norm:
        x = layers.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype,
                         param_dtype=self.param_dtype, name=f"bn{i}")(x)
      x = nn.relu(x)
    return x


class UNet(nn.Module):
  """``[B, H, W, C]`` float images -> ``[B, H, W, num_classes]`` float32 logits.

  Attributes:
    num_classes: output channels (1 for binary segmentation).
    width: channels of the first level (64 in the paper); level i has ``width * 2**i``.
    depth: number of resolution levels (5 in the paper: 4 poolings).
    batch_norm: batch norm after every 3x3 conv.
    dropout_rate: dropout before the bottom level's convs (the paper's "drop-out layers at the end of the
      contracting path").
  """
  num_classes: int = 2
  width: int = 64
  depth: int = 5
  batch_norm: bool = True
  dropout_rate: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    inputs.check_images(images, "UNet")
    if self.depth < 1:
      raise ValueError(f"UNet depth must be >= 1; got {self.depth}")
    multiple = 2 ** (self.depth - 1)
    height, width = images.shape[1:3]
    if height % multiple or width % multiple:
      raise ValueError(f"UNet with depth {self.depth} needs H and W divisible by {multiple}; got {height}x{width} "
                       f"(e.g. {(height // multiple + 1) * multiple}x{(width // multiple + 1) * multiple})")
    block = functools.partial(DoubleConv, batch_norm=self.batch_norm, dtype=self.dtype,
                              param_dtype=self.param_dtype)
    x = jnp.asarray(images, self.dtype)
    skips = []
    for level in range(self.depth):
      if level > 0:
        skips.append(x)
        x = max_pool(x, (2, 2), (2, 2))
      if level == self.depth - 1 and self.dropout_rate:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      x = block(self.width * 2**level, name=f"down{level}")(x, train)
    for level in reversed(range(self.depth - 1)):
      x = ConvTranspose2d(self.width * 2**level, 2, 2, dtype=self.dtype, param_dtype=self.param_dtype,
                          name=f"upconv{level}")(x)
      x = jnp.concatenate([skips[level], x], axis=-1)
      x = block(self.width * 2**level, name=f"up{level}")(x, train)
    logits = nn.Conv(self.num_classes, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype, name="head")(x)
    return jnp.asarray(logits, jnp.float32)
