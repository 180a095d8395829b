"""Attention-augmented convolution (Bello et al., "Attention Augmented Convolutional Networks", ICCV 2019).

A layer whose output concatenates a convolution's ``features - value_features`` channels with
``value_features`` channels of multi-head self-attention over all positions of the feature map (Section 3).
Attention logits add 2-D relative position logits to the content logits (Section 3.2): for the query at
(i, j) and the key at (i', j'),

    l = q_ij . k_i'j' / sqrt(d) + q_ij . r^W_{j' - j} + q_ij . r^H_{i' - i}

with learned relative width and height embeddings r^W [2W - 1, d] and r^H [2H - 1, d] per layer (shared by the
heads). ``relative_logits`` computes the two terms by gathering the embeddings for every offset
(memory O(H W (H + W) d) per head), a plainer equivalent of the paper's "relative to absolute" reshaping.

``AABasicBlock`` is ResNet's basic block whose second 3x3 conv is attention-augmented in stages at least
``min_features`` wide, so ``ResNet(block=AABasicBlock)`` augments only the last stages (``resnet18_aa``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.models import layers, resnet

Dtype = Any


def relative_logits(queries: jnp.ndarray, rel_height: jnp.ndarray, rel_width: jnp.ndarray) -> jnp.ndarray:
  """Relative position logits. queries [B, N, H, W, d]; rel_height [2H - 1, d]; rel_width [2W - 1, d]
  -> [B, N, H, W, H, W] whose [b, n, i, j, i', j'] is q_bnij . (rel_height[i' - i + H - 1] +
  rel_width[j' - j + W - 1])."""
  height, width = queries.shape[2:4]
  if rel_height.shape[0] != 2 * height - 1 or rel_width.shape[0] != 2 * width - 1:
    raise ValueError(f"relative embeddings {rel_height.shape[0]}, {rel_width.shape[0]} do not fit a "
                     f"{height}x{width} map (need {2 * height - 1}, {2 * width - 1})")
  offsets = lambda n: jnp.arange(n)[None, :] - jnp.arange(n)[:, None] + n - 1  # [n, n'] -> n' - n + n - 1.
  emb_h = rel_height[offsets(height)]  # [H, H', d]
  emb_w = rel_width[offsets(width)]  # [W, W', d]
  logits_h = jnp.einsum("bnijd,ikd->bnijk", queries, emb_h)  # [B, N, H, W, H']
  logits_w = jnp.einsum("bnijd,jld->bnijl", queries, emb_w)  # [B, N, H, W, W']
  return logits_h[..., :, None] + logits_w[..., None, :]


def relative_attention(queries, keys, values, rel_height=None, rel_width=None):
  """Multi-head attention over all positions. queries, keys [B, N, H, W, d]; values [B, N, H, W, dv];
  optional relative embeddings (``relative_logits``) -> [B, N, H, W, dv]. Queries are used as given (scale
  them beforehand)."""
  b, n, h, w, d = queries.shape
  logits = jnp.einsum("bnijd,bnkld->bnijkl", queries, keys)
  if rel_height is not None:
    logits = logits + relative_logits(queries, rel_height, rel_width)
  weights = jax.nn.softmax(logits.reshape(b, n, h, w, h * w).astype(jnp.float32), axis=-1)
  return jnp.einsum("bnijm,bnmv->bnijv", weights.astype(values.dtype), values.reshape(b, n, h * w, -1))


class AttentionAugmentedConv(nn.Module):
  """[B, H, W, C] -> [B, H, W, features]: conv (``features - value_features`` channels, stride 1) concatenated
  with ``num_heads``-head self-attention (``value_features`` channels, keys/queries of ``key_features``).

  Attributes:
    features: output channels.
    key_features / value_features: total key (and query) depth d_k and value depth d_v, divisible by
      ``num_heads``; ``value_features < features`` (the paper's v = d_v / F_out, k = d_k / F_out).
    relative: add 2-D relative position logits (Section 3.2).
  """
  features: int
  key_features: int
  value_features: int
  num_heads: int = 4
  kernel_size: int = 3
  relative: bool = True
  use_bias: bool = False
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.key_features % self.num_heads or self.value_features % self.num_heads:
      raise ValueError(f"key_features ({self.key_features}) and value_features ({self.value_features}) must "
                       f"be divisible by num_heads ({self.num_heads})")
    if not 0 < self.value_features < self.features:
      raise ValueError(f"value_features must be in (0, features={self.features}); got {self.value_features}")
    b, h, w, _ = x.shape
    dense = functools.partial(nn.Conv, kernel_size=(1, 1), dtype=self.dtype, param_dtype=self.param_dtype)
    conv_out = nn.Conv(self.features - self.value_features, (self.kernel_size,) * 2, padding="SAME",
                       use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.param_dtype, name="conv")(x)
    dk, dv = self.key_features // self.num_heads, self.value_features // self.num_heads
    qkv = dense(2 * self.key_features + self.value_features, name="qkv")(x)
    split = lambda t, d: jnp.moveaxis(t.reshape(b, h, w, self.num_heads, d), 3, 1)  # -> [B, N, H, W, d]
    q = split(qkv[..., :self.key_features], dk) * dk**-0.5
    k = split(qkv[..., self.key_features:2 * self.key_features], dk)
    v = split(qkv[..., 2 * self.key_features:], dv)
    rel_h = rel_w = None
    if self.relative:
      init = nn.initializers.normal(dk**-0.5)
      rel_h = self.param("rel_height", init, (2 * h - 1, dk), self.param_dtype).astype(self.dtype)
      rel_w = self.param("rel_width", init, (2 * w - 1, dk), self.param_dtype).astype(self.dtype)
    attn = relative_attention(q, k, v, rel_h, rel_w)  # [B, N, H, W, dv]
    attn = jnp.moveaxis(attn, 1, 3).reshape(b, h, w, self.value_features)
    attn = dense(self.value_features, name="attention_out")(attn)
    return jnp.concatenate([conv_out, attn], axis=-1)


class AABasicBlock(nn.Module):
  """``resnet.BasicBlock`` whose second 3x3 conv is an ``AttentionAugmentedConv`` when ``features >=
  min_features`` (v = ``value_fraction``, k = 2v as in the paper's ResNet experiments, ``num_heads`` heads);
  a plain basic block otherwise. [B, H, W, C] -> [B, H/s, W/s, features]."""
  features: int
  strides: int = 1
  stride_on_3x3: bool = True
  bn_epsilon: float = 1e-5
  min_features: int = 256
  value_fraction: float = 0.25
  num_heads: int = 8
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  expansion = 1

  @nn.compact
  def __call__(self, x, train: bool):
    if self.features < self.min_features:
      return resnet.BasicBlock(self.features, self.strides, bn_epsilon=self.bn_epsilon, dtype=self.dtype,
                               param_dtype=self.param_dtype, name="block")(x, train)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype)
    s = self.strides
    y = nn.Conv(self.features, (3, 3), (s, s), padding=((1, 1), (1, 1)), use_bias=False, dtype=self.dtype,
                param_dtype=self.param_dtype, name="conv1")(x)
    y = nn.relu(norm(name="bn1")(y))
    dv = max(self.num_heads, int(round(self.value_fraction * self.features / self.num_heads)) * self.num_heads)
    y = AttentionAugmentedConv(self.features, key_features=2 * dv, value_features=dv, num_heads=self.num_heads,
                               dtype=self.dtype, param_dtype=self.param_dtype, name="conv2")(y)
    y = norm(name="bn2")(y)
    if s != 1 or x.shape[-1] != self.features:
      x = nn.Conv(self.features, (1, 1), (s, s), padding="VALID", use_bias=False, dtype=self.dtype,
                  param_dtype=self.param_dtype, name="downsample_conv")(x)
      x = norm(name="downsample_bn")(x)
    return nn.relu(x + y)


ResNet18AA = functools.partial(resnet.ResNet, stage_sizes=(2, 2, 2, 2), block=AABasicBlock)
