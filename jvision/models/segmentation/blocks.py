"""Building blocks shared by the segmentation zoo: conv-BN-ReLU, scSE attention, resizing, the heads.

scSE: "Concurrent Spatial and Channel Squeeze & Excitation" (Roy et al., MICCAI 2018). The segmentation head
(3x3 conv to classes, then bilinear upsampling) and the auxiliary classification head (global pooling, dropout,
linear) follow segmentation_models.pytorch's options.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.models import layers

Dtype = Any


class ConvBNReLU(nn.Module):
  """``[B, H, W, C]`` -> ``[B, H/s, W/s, features]``: conv (same padding), optional BN, optional ReLU."""
  features: int
  kernel_size: int = 3
  strides: int = 1
  dilation: int = 1
  batch_norm: bool = True
  activation: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    pad = self.dilation * (self.kernel_size - 1) // 2
    x = nn.Conv(self.features, (self.kernel_size, self.kernel_size), (self.strides, self.strides),
                padding=((pad, pad), (pad, pad)), kernel_dilation=(self.dilation, self.dilation),
                use_bias=not self.batch_norm, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    if self.batch_norm:
      x = layers.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype,
                       param_dtype=self.param_dtype)(x)
    return nn.relu(x) if self.activation else x


class SCSE(nn.Module):
  """Channel SE (global pool, bottleneck MLP, sigmoid) plus spatial SE (1x1 conv, sigmoid), summed."""
  reduction: int = 16
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    squeeze = jnp.mean(x, axis=(1, 2), keepdims=True)
    squeeze = nn.relu(nn.Conv(max(1, channels // self.reduction), (1, 1), dtype=self.dtype,
                              param_dtype=self.param_dtype, name="cse_reduce")(squeeze))
    channel_gate = nn.sigmoid(nn.Conv(channels, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype,
                                      name="cse_expand")(squeeze))
    spatial_gate = nn.sigmoid(nn.Conv(1, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype, name="sse")(x))
    return x * channel_gate + x * spatial_gate


def attention(kind: Optional[str], name: str, dtype, param_dtype):
  """``None`` -> identity; ``"scse"`` -> an ``SCSE`` module."""
  if kind is None:
    return lambda x: x
  if kind != "scse":
    raise ValueError(f"unknown attention {kind!r}; known: None, 'scse'")
  return SCSE(dtype=dtype, param_dtype=param_dtype, name=name)


def resize(x: jnp.ndarray, height: int, width: int, method: str = "bilinear") -> jnp.ndarray:
  """Resizes ``[B, h, w, C]`` to ``[B, height, width, C]`` (``"nearest"`` or ``"bilinear"``)."""
  if method not in ("nearest", "bilinear"):
    raise ValueError(f"unknown upsampling {method!r}; known: nearest, bilinear")
  if x.shape[1:3] == (height, width):
    return x
  return jax.image.resize(x, (x.shape[0], height, width, x.shape[3]), method=method)


def upsample(x: jnp.ndarray, factor: int, method: str = "nearest") -> jnp.ndarray:
  return resize(x, x.shape[1] * factor, x.shape[2] * factor, method)


class SegmentationHead(nn.Module):
  """3x3 conv to ``num_classes`` logits, then bilinear resize to the input size; float32 out."""
  num_classes: int
  kernel_size: int = 3
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, height: int, width: int):
    pad = self.kernel_size // 2
    x = nn.Conv(self.num_classes, (self.kernel_size, self.kernel_size), padding=((pad, pad), (pad, pad)),
                dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return jnp.asarray(resize(x, height, width, "bilinear"), jnp.float32)


class ClassificationHead(nn.Module):
  """Auxiliary image labels from the deepest features: avg/max pool, dropout, linear -> ``[B, classes]``."""
  num_classes: int
  pooling: str = "avg"
  dropout_rate: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    if self.pooling not in ("avg", "max"):
      raise ValueError(f"unknown aux pooling {self.pooling!r}; known: avg, max")
    x = jnp.mean(x, axis=(1, 2)) if self.pooling == "avg" else jnp.max(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return jnp.asarray(nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype)(x),
                       jnp.float32)
