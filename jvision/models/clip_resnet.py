"""CLIP's ModifiedResNet image encoder (Radford et al., ICML 2021, Sec. 2.4).

Three changes to ResNet-50: a stem of three 3x3 convolutions with an average pool instead of one 7x7 conv and a
max pool; anti-aliased strided convolutions (an average pool before the stride-1 3x3 conv, and before the 1x1
shortcut projection); and attention pooling instead of global average pooling: the mean of the final feature
map queries all positions (plus itself) in one multi-head attention layer whose output projection gives the
embedding.

Submodule names follow OpenAI's ``ModifiedResNet`` (``conv1..3``/``bn1..3``, ``layer{k}_{i}/{conv1..3, bn1..3,
downsample_conv, downsample_bn}``, ``attnpool/{positional_embedding, q_proj, k_proj, v_proj, c_proj}``).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.models import layers

Dtype = Any


def _avg_pool(x, stride):
  return x if stride == 1 else nn.avg_pool(x, (stride, stride), (stride, stride))


class Bottleneck(nn.Module):
  """1x1 -> 3x3 -> avgpool(stride) -> 1x1 (x4 channels), shortcut pooled then projected. ``[B,H,W,C]`` ->
  ``[B, H/s, W/s, 4 planes]``."""
  planes: int
  stride: int = 1
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5,
                             dtype=self.dtype, param_dtype=self.param_dtype)
    out = nn.relu(norm(name="bn1")(conv(self.planes, (1, 1), name="conv1")(x)))
    out = nn.relu(norm(name="bn2")(conv(self.planes, (3, 3), padding=1, name="conv2")(out)))
    out = _avg_pool(out, self.stride)
    out = norm(name="bn3")(conv(self.planes * 4, (1, 1), name="conv3")(out))
    if self.stride > 1 or x.shape[-1] != self.planes * 4:
      x = norm(name="downsample_bn")(conv(self.planes * 4, (1, 1), name="downsample_conv")(
          _avg_pool(x, self.stride)))
    return nn.relu(out + x)


class AttentionPool2d(nn.Module):
  """Multi-head attention pooling: ``[B, H, W, C] -> [B, output_dim]`` (query: the mean position)."""
  spatial_size: int
  num_heads: int
  output_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    if (h, w) != (self.spatial_size, self.spatial_size):
      raise ValueError(f"AttentionPool2d was built for a {self.spatial_size}x{self.spatial_size} map (its "
                       f"position embedding); got {h}x{w}")
    if c % self.num_heads:
      raise ValueError(f"{c} channels are not divisible by {self.num_heads} heads")
    x = x.reshape(b, h * w, c)
    x = jnp.concatenate([x.mean(axis=1, keepdims=True), x], axis=1)  # [B, 1 + HW, C]
    pos = self.param("positional_embedding", nn.initializers.normal(c ** -0.5), (h * w + 1, c), self.param_dtype)
    x = x + pos.astype(self.dtype)
    dense = lambda features, name: nn.Dense(features, dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    heads, head_dim = self.num_heads, c // self.num_heads
    q = dense(c, "q_proj")(x[:, :1]).reshape(b, 1, heads, head_dim)
    k = dense(c, "k_proj")(x).reshape(b, h * w + 1, heads, head_dim)
    v = dense(c, "v_proj")(x).reshape(b, h * w + 1, heads, head_dim)
    weights = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(head_dim).astype(self.dtype), axis=-1)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, c)
    return dense(self.output_dim, "c_proj")(out)


class ModifiedResNet(nn.Module):
  """``[B, S, S, 3]`` normalized images -> ``[B, output_dim]`` (not normalized) image features.

  ``layers`` blocks per stage (RN50: (3, 4, 6, 3)), ``width`` stem channels (RN50: 64); the final map is
  ``S / 32`` wide with ``32 * width`` channels.
  """
  layers: Sequence[int] = (3, 4, 6, 3)
  output_dim: int = 1024
  heads: int = 32
  image_size: int = 224
  width: int = 64
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    if self.image_size % 32:
      raise ValueError(f"ModifiedResNet needs image_size divisible by 32, got {self.image_size}")
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5,
                             dtype=self.dtype, param_dtype=self.param_dtype)
    x = jnp.asarray(images, self.dtype)
    x = nn.relu(norm(name="bn1")(conv(self.width // 2, (3, 3), (2, 2), padding=1, name="conv1")(x)))
    x = nn.relu(norm(name="bn2")(conv(self.width // 2, (3, 3), padding=1, name="conv2")(x)))
    x = nn.relu(norm(name="bn3")(conv(self.width, (3, 3), padding=1, name="conv3")(x)))
    x = _avg_pool(x, 2)
    for stage, blocks in enumerate(self.layers):
      for i in range(blocks):
        stride = 2 if (i == 0 and stage > 0) else 1
        x = Bottleneck(self.width * 2 ** stage, stride, self.dtype, self.param_dtype,
                       name=f"layer{stage + 1}_{i}")(x, train)
    return AttentionPool2d(self.image_size // 32, self.heads, self.output_dim, self.dtype, self.param_dtype,
                           name="attnpool")(x)
