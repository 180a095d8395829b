"""Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale", ICLR 2021): non-overlapping patches are linearly embedded, a class token and learned position
embeddings are added, pre-norm transformer encoder layers follow, and the class token's final state is
classified.

Submodule names follow torchvision's ``vit_b_16`` (``conv_proj``, ``class_token``, ``pos_embedding``,
``encoder_layer_{i}/{ln_1, self_attention, ln_2, mlp_linear_1, mlp_linear_2}``, ``encoder_ln``, ``head``);
layer norm epsilon 1e-6 and exact GELU as there. ViT-B/16: patch 16, width 768, depth 12, 12 heads, MLP 3072;
ViT-Tiny/16 (DeiT-Ti): width 192, 3 heads, MLP 768.

Features (``return_features=True``): ``encoder_layer_{i}`` and ``encoded`` (after the final norm), the patch
tokens as maps ``[B, H/patch, W/patch, width]`` (the class token left out).
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import inputs, tensor_parallel

Dtype = Any


class EncoderLayer(nn.Module):
  """Pre-norm transformer layer: x + MHA(LN(x)), then x + MLP(LN(x)). [B, N, D] -> [B, N, D]."""
  num_heads: int
  mlp_dim: int
  dropout_rate: float = 0.0
  attention_dropout_rate: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  tensor_parallel: bool = False

  @nn.compact
  def __call__(self, x, train: bool):
    first_init, second_init = tensor_parallel.mlp_inits(self.tensor_parallel)
    norm = functools.partial(nn.LayerNorm, epsilon=1e-6, dtype=self.dtype, param_dtype=self.param_dtype)
    y = norm(name="ln_1")(x)
    y = nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads, dropout_rate=self.attention_dropout_rate, deterministic=not train,
        dtype=self.dtype, param_dtype=self.param_dtype, name="self_attention",
        **tensor_parallel.attention_inits(self.tensor_parallel))(y, y)
    x = x + nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    y = norm(name="ln_2")(x)
    y = nn.Dense(self.mlp_dim, kernel_init=first_init, dtype=self.dtype, param_dtype=self.param_dtype,
                 name="mlp_linear_1")(y)
    y = nn.Dropout(self.dropout_rate, deterministic=not train)(nn.gelu(y, approximate=False))
    y = nn.Dense(x.shape[-1], kernel_init=second_init, dtype=self.dtype, param_dtype=self.param_dtype,
                 name="mlp_linear_2")(y)
    return x + nn.Dropout(self.dropout_rate, deterministic=not train)(y)


class VisionTransformer(nn.Module):
  """ViT classifier. ``[B, image_size, image_size, C]`` float images -> ``[B, num_classes]`` float32 logits."""
  image_size: int = 224
  patch_size: int = 16
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  num_classes: int = 1000
  dropout_rate: float = 0.0
  attention_dropout_rate: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  tensor_parallel: bool = False  # Annotate encoder kernels for the mesh's "model" axis (jvision.sharding).
  head_name = "head"

  @nn.compact
  def __call__(self, images, train: bool = False, return_features: bool = False):
    """Returns logits ``[B, num_classes]``, or ``(logits, features)`` with ``return_features``."""
    inputs.check_images(images, type(self).__name__)
    if images.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"VisionTransformer was built for {self.image_size}x{self.image_size} images (its "
                       f"position embeddings); got {images.shape[1]}x{images.shape[2]}")
    if self.image_size % self.patch_size:
      raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
    p, grid = self.patch_size, self.image_size // self.patch_size
    x = nn.Conv(self.width, (p, p), (p, p), padding="VALID", dtype=self.dtype, param_dtype=self.param_dtype,
                name="conv_proj")(jnp.asarray(images, self.dtype))
    b = x.shape[0]
    x = x.reshape(b, grid * grid, self.width)
    class_token = self.param("class_token", nn.initializers.zeros, (1, 1, self.width), self.param_dtype)
    x = jnp.concatenate([jnp.broadcast_to(class_token.astype(self.dtype), (b, 1, self.width)), x], axis=1)
    pos_embedding = self.param("pos_embedding", nn.initializers.normal(0.02), (1, grid * grid + 1, self.width),
                               self.param_dtype)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x + pos_embedding.astype(self.dtype))
    as_map = lambda t: t[:, 1:].reshape(b, grid, grid, self.width)
    features = {}
    for i in range(self.depth):
      x = EncoderLayer(self.num_heads, self.mlp_dim, self.dropout_rate, self.attention_dropout_rate,
                       self.dtype, self.param_dtype, self.tensor_parallel, name=f"encoder_layer_{i}")(x, train)
      features[f"encoder_layer_{i}"] = as_map(x)
    x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, param_dtype=self.param_dtype, name="encoder_ln")(x)
    features["encoded"] = as_map(x)
    logits = nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="head")(x[:, 0])
    logits = jnp.asarray(logits, jnp.float32)
    return (logits, features) if return_features else logits


ViTB16 = functools.partial(VisionTransformer, patch_size=16, width=768, depth=12, num_heads=12, mlp_dim=3072)
ViTTiny16 = functools.partial(VisionTransformer, patch_size=16, width=192, depth=12, num_heads=3, mlp_dim=768)
