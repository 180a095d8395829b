"""VGG-11/13/16/19, with and without batch norm (Simonyan & Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition", ICLR 2015; batch norm variants as in torchvision).

Convolution ``conv{b}_{i}`` is the i-th 3x3 conv of block b (``bn{b}_{i}`` its batch norm); the classifier is
``fc1``, ``fc2`` (``classifier_width`` units, ReLU, dropout) and ``fc3``. With ``pool_to=7`` the last feature
map is average-pooled to 7x7 before flattening (torchvision's adaptive pool; the identity for 224x224
inputs, so Keras weights fit too); ``pool_to=None`` flattens whatever size arrives (Keras at other sizes).

Features (``return_features=True``): ``conv1_1``..``conv5_4`` after ReLU (the "relu1_1" of style transfer)
and ``pool1``..``pool5``; block b has stride 2**(b-1) before and 2**b after its pool.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jvision.models import inputs, layers
from jvision.ops.pool import max_pool

Dtype = Any

# Convolutions per block.
BLOCKS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)


def adaptive_average_pool(x: jnp.ndarray, size: int) -> jnp.ndarray:
  """torchvision's AdaptiveAvgPool2d: [B, H, W, C] -> [B, size, size, C].

  Output cell i averages input rows floor(i*H/size) .. ceil((i+1)*H/size) - 1 (cells may overlap or
  repeat when H < size). Written as two small averaging matrices so that it stays one einsum.
  """
  def matrix(n):
    m = np.zeros((size, n), np.float32)
    for i in range(size):
      start, end = (i * n) // size, -((-(i + 1) * n) // size)
      m[i, start:end] = 1.0 / (end - start)
    return jnp.asarray(m, x.dtype)
  return jnp.einsum("ph,bhwc,qw->bpqc", matrix(x.shape[1]), x, matrix(x.shape[2]))


class VGG(nn.Module):
  """VGG classifier. ``[B, H, W, C]`` float images (H, W >= 32) -> ``[B, num_classes]`` float32 logits."""
  depth: int = 16
  num_classes: int = 1000
  batch_norm: bool = False
  classifier_width: int = 4096
  pool_to: Optional[int] = 7
  dropout_rate: float = 0.5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  head_name = "fc3"  # the last classifier layer, replaced by jvision.finetune.replace_head

  @nn.compact
  def __call__(self, images, train: bool = False, return_features: bool = False):
    """Returns logits ``[B, num_classes]``, or ``(logits, features)`` with ``return_features``."""
    if self.depth not in BLOCKS:
      raise ValueError(f"VGG depth must be one of {sorted(BLOCKS)}; got {self.depth}")
    inputs.check_images(images, f"VGG{self.depth}", min_size=32)
    features = {}
    x = jnp.asarray(images, self.dtype)
    for b, (num_convs, width) in enumerate(zip(BLOCKS[self.depth], WIDTHS), start=1):
      for i in range(1, num_convs + 1):
        x = layers.Conv(width, (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype, param_dtype=self.param_dtype,
                        name=f"conv{b}_{i}")(x)
        if self.batch_norm:
          x = layers.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype,
                           param_dtype=self.param_dtype, name=f"bn{b}_{i}")(x)
        x = nn.relu(x)
        features[f"conv{b}_{i}"] = x
      x = max_pool(x, (2, 2), (2, 2))
      features[f"pool{b}"] = x
    if self.pool_to is not None:
      x = adaptive_average_pool(x, self.pool_to)
    x = x.reshape(x.shape[0], -1)
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
    for name in ("fc1", "fc2"):
      x = nn.relu(dense(self.classifier_width, name=name)(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logits = jnp.asarray(dense(self.num_classes, name="fc3")(x), jnp.float32)
    return (logits, features) if return_features else logits


VGG11 = functools.partial(VGG, depth=11)
VGG13 = functools.partial(VGG, depth=13)
VGG16 = functools.partial(VGG, depth=16)
VGG19 = functools.partial(VGG, depth=19)
VGG11BN = functools.partial(VGG, depth=11, batch_norm=True)
VGG13BN = functools.partial(VGG, depth=13, batch_norm=True)
VGG16BN = functools.partial(VGG, depth=16, batch_norm=True)
VGG19BN = functools.partial(VGG, depth=19, batch_norm=True)
