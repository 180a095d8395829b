"""EfficientNet-B0..B3 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019): MBConv blocks (1x1 expand, depthwise conv, squeeze-and-excitation, 1x1 project) scaled in width
and depth by compound coefficients.

Submodule names follow Keras applications (``stem_conv``, ``block2a/expand_conv``, ``block2a/dwconv``,
``block2a/se_reduce``, ``top_conv``, ``classifier``), whose checkpoints ``jvision.models.weights`` imports.
Convolutions use TensorFlow "SAME" padding as Keras does; ``same_padding=False`` pads (k - 1) // 2 on every
side as torchvision does (they differ for stride 2). ``input_scale``/``input_offset`` fold Keras's in-model
Rescaling and Normalization layers (x * scale + offset per channel); left ``None``, the model expects
already normalized images. Batch norm epsilon: 1e-3 (Keras), 1e-5 (torchvision B0..B3).

Features (``return_features=True``): ``stem`` (stride 2), ``stage1``..``stage7`` (the last block of each
stage; strides 2, 4, 8, 16, 16, 32, 32) and ``top`` (after the 1x1 head conv, stride 32).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Optional, Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import inputs, layers

Dtype = Any

# (kernel, repeats, filters_in, filters_out, expand_ratio, strides) per stage of B0; se_ratio 0.25 throughout.
STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
          (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
  """Channels scaled by ``width`` and rounded to a multiple of ``divisor``, never more than 10% down."""
  filters *= width
  rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
  return int(rounded + divisor if rounded < 0.9 * filters else rounded)


class MBConv(nn.Module):
  """Inverted residual block with squeeze-and-excitation. [B, H, W, C_in] -> [B, H/s, W/s, C_out]."""
  filters_out: int
  kernel_size: int
  strides: int
  expand_ratio: int
  se_ratio: float = 0.25
  drop_rate: float = 0.0
  bn_epsilon: float = 1e-3
  same_padding: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    conv = functools.partial(layers.Conv, padding="SAME", use_bias=False, dtype=self.dtype,
                             param_dtype=self.param_dtype)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.99,
                             epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype)
    filters_in = x.shape[-1]
    filters = filters_in * self.expand_ratio
    y = x
    if self.expand_ratio != 1:
      y = nn.swish(norm(name="expand_bn")(conv(filters, (1, 1), name="expand_conv")(y)))
    k = self.kernel_size
    y = conv(filters, (k, k), (self.strides, self.strides), feature_group_count=filters,
             padding="SAME" if self.same_padding else [((k - 1) // 2, (k - 1) // 2)] * 2, name="dwconv")(y)
    y = nn.swish(norm(name="bn")(y))
    squeezed = jnp.mean(y, axis=(1, 2), keepdims=True)
    squeezed = nn.swish(layers.Conv(max(1, int(filters_in * self.se_ratio)), (1, 1), dtype=self.dtype,
                                    param_dtype=self.param_dtype, name="se_reduce")(squeezed))
    y = y * nn.sigmoid(layers.Conv(filters, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype,
                                   name="se_expand")(squeezed))
    y = norm(name="project_bn")(conv(self.filters_out, (1, 1), name="project_conv")(y))
    if self.strides == 1 and filters_in == self.filters_out:
      # Stochastic depth: the whole residual branch of an example is dropped.
      y = nn.Dropout(self.drop_rate, broadcast_dims=(1, 2, 3), deterministic=not train)(y)
      y = y + x
    return y


class EfficientNet(nn.Module):
  """EfficientNet classifier. ``[B, H, W, 3]`` float images -> ``[B, num_classes]`` float32 logits."""
  width: float = 1.0
  depth: float = 1.0
  dropout_rate: float = 0.2
  drop_connect_rate: float = 0.2
  num_classes: int = 1000
  input_scale: Optional[Sequence[float]] = None
  input_offset: Optional[Sequence[float]] = None
  bn_epsilon: float = 1e-3
  same_padding: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  head_name = "classifier"

  @nn.compact
  def __call__(self, images, train: bool = False, return_features: bool = False):
    """Returns logits ``[B, num_classes]``, or ``(logits, features)`` with ``return_features``."""
    inputs.check_images(images, type(self).__name__)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.99,
                             epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype)
    x = jnp.asarray(images, jnp.float32)
    if self.input_scale is not None:
      x = x * jnp.asarray(self.input_scale, jnp.float32)
    if self.input_offset is not None:
      x = x + jnp.asarray(self.input_offset, jnp.float32)
    x = layers.Conv(round_filters(32, self.width), (3, 3), (2, 2),
                    padding="SAME" if self.same_padding else ((1, 1), (1, 1)), use_bias=False,
                    dtype=self.dtype, param_dtype=self.param_dtype, name="stem_conv")(jnp.asarray(x, self.dtype))
    x = nn.swish(norm(name="stem_bn")(x))
    features = {"stem": x}
    repeats = [int(math.ceil(self.depth * stage[1])) for stage in STAGES]
    block, total = 0, sum(repeats)
    for i, ((kernel, _, _, filters_out, expand, strides), n) in enumerate(zip(STAGES, repeats), start=1):
      for j in range(n):
        x = MBConv(round_filters(filters_out, self.width), kernel, strides if j == 0 else 1, expand,
                   drop_rate=self.drop_connect_rate * block / total, bn_epsilon=self.bn_epsilon,
                   same_padding=self.same_padding, dtype=self.dtype, param_dtype=self.param_dtype,
                   name=f"block{i}{chr(ord('a') + j)}")(x, train)
        block += 1
      features[f"stage{i}"] = x
    x = layers.Conv(round_filters(1280, self.width), (1, 1), use_bias=False, dtype=self.dtype,
                    param_dtype=self.param_dtype, name="top_conv")(x)
    x = nn.swish(norm(name="top_bn")(x))
    features["top"] = x
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(jnp.mean(x, axis=(1, 2)))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="classifier")(x)
    logits = jnp.asarray(logits, jnp.float32)
    return (logits, features) if return_features else logits


EfficientNetB0 = functools.partial(EfficientNet, width=1.0, depth=1.0, dropout_rate=0.2)
EfficientNetB1 = functools.partial(EfficientNet, width=1.0, depth=1.1, dropout_rate=0.2)
EfficientNetB2 = functools.partial(EfficientNet, width=1.1, depth=1.2, dropout_rate=0.3)
EfficientNetB3 = functools.partial(EfficientNet, width=1.2, depth=1.4, dropout_rate=0.3)
