"""CLIP (Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021).

Two towers map images and texts into one embedding space (Sec. 2.4):

- Image encoder: a ViT (``vision="vit"``: patch embedding without bias, class token, position embeddings, a
  pre-LN before the transformer, the class token's LN'd output projected) or the ModifiedResNet with attention
  pooling (``vision="resnet"``, ``jvision.models.clip_resnet``).
- Text encoder: a causal transformer over token ids ``[B, L]``; the features at the end-of-text token (the
  largest id in each row, as in OpenAI's vocabulary and ``jvision.tokenizers``) after the final LN are projected.

Both embeddings are L2-normalized. ``logit_scale`` is a learned log-temperature initialized to log(1/0.07);
the multiplier ``exp(logit_scale)`` is clamped to 100. ``logit_bias`` (init -10) is used by the SigLIP loss.

``model.apply(variables, images, tokens, train=...)`` returns ``{"image": [B, E], "text": [B, E], "scale": [],
"bias": []}``; ``tokens=None`` encodes only images (at ``init`` the text tower is initialized on a dummy
batch, so the generic trainer's image-only ``init`` builds both towers). ``method="encode_image"`` /
``"encode_text"`` give one tower's normalized embeddings.

Names follow OpenAI's ``clip/model.py`` (``visual/{conv1, class_embedding, positional_embedding, ln_pre,
transformer, ln_post, proj}``, ``token_embedding``, ``positional_embedding``, ``transformer``, ``ln_final``,
``text_projection``, ``logit_scale``), so ``jvision.models.weights.openai_clip`` imports its checkpoints.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Optional, Sequence

import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jvision.models import inputs
from jvision.models.clip_resnet import ModifiedResNet
from jvision.models.clip_transformer import Transformer

Dtype = Any
MAX_LOGIT_SCALE = 100.0


def l2_normalize(x: jnp.ndarray, eps: float = 1e-6) -> jnp.ndarray:
  """Rows of ``x [..., D]`` scaled to unit norm (float32)."""
  x = jnp.asarray(x, jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


class VisionTransformer(nn.Module):
  """CLIP's ViT. ``[B, S, S, 3]`` normalized images -> ``[B, output_dim]`` (not normalized)."""
  image_size: int = 224
  patch_size: int = 32
  width: int = 768
  layers: int = 12
  heads: int = 12
  output_dim: int = 512
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  tensor_parallel: bool = False

  @nn.compact
  def __call__(self, images, train: bool = False):
    del train  # No dropout or batch norm.
    if self.image_size % self.patch_size:
      raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
    p, grid = self.patch_size, self.image_size // self.patch_size
    x = nn.Conv(self.width, (p, p), (p, p), padding="VALID", use_bias=False, dtype=self.dtype,
                param_dtype=self.param_dtype, name="conv1")(jnp.asarray(images, self.dtype))
    b = x.shape[0]
    x = x.reshape(b, grid * grid, self.width)
    scale = self.width ** -0.5
    cls = self.param("class_embedding", nn.initializers.normal(scale), (self.width,), self.param_dtype)
    x = jnp.concatenate([jnp.broadcast_to(cls.astype(self.dtype), (b, 1, self.width)), x], axis=1)
    pos = self.param("positional_embedding", nn.initializers.normal(scale), (grid * grid + 1, self.width),
                     self.param_dtype)
    norm = functools.partial(nn.LayerNorm, epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype)
    x = norm(name="ln_pre")(x + pos.astype(self.dtype))
    x = Transformer(self.layers, self.heads, self.dtype, self.param_dtype, self.tensor_parallel,
                    name="transformer")(x)
    x = norm(name="ln_post")(x[:, 0])
    proj = self.param("proj", nn.initializers.normal(scale), (self.width, self.output_dim), self.param_dtype)
    return x @ proj.astype(self.dtype)


class CLIP(nn.Module):
  """Image and text towers with a shared ``embed_dim``; see the module docstring for the call signature.

  ``vision_layers`` is an int (ViT depth) for ``vision="vit"`` and a tuple of blocks per stage for
  ``"resnet"`` (whose heads are ``vision_width * 32 // 64`` as in OpenAI's code).
  """
  embed_dim: int = 512
  vision: str = "vit"
  image_size: int = 224
  vision_layers: Any = 12
  vision_width: int = 768
  vision_patch_size: int = 32
  vision_heads: Optional[int] = None  # None: width // 64.
  context_length: int = 77
  vocab_size: int = 49408
  text_width: int = 512
  text_heads: int = 8
  text_layers: int = 12
  init_logit_scale: float = math.log(1 / 0.07)
  init_logit_bias: float = -10.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  tensor_parallel: bool = False  # Annotate transformer kernels for the mesh's "model" axis (jvision.sharding).
  num_classes: int = 0  # Unused: CLIP has no classifier head (kept for the model-zoo constructor convention).

  def setup(self):
    if self.vision == "vit":
      heads = self.vision_heads or max(1, self.vision_width // 64)
      self.visual = VisionTransformer(self.image_size, self.vision_patch_size, self.vision_width,
                                      int(self.vision_layers), heads, self.embed_dim, self.dtype,
                                      self.param_dtype, self.tensor_parallel)
    elif self.vision == "resnet":
      layers = tuple(self.vision_layers) if isinstance(self.vision_layers, Sequence) else (self.vision_layers,) * 4
      heads = self.vision_heads or max(1, self.vision_width * 32 // 64)
      self.visual = ModifiedResNet(layers, self.embed_dim, heads, self.image_size, self.vision_width,
                                   self.dtype, self.param_dtype)
    else:
      raise ValueError(f"unknown CLIP vision tower {self.vision!r}; known: vit, resnet")
    self.token_embedding = nn.Embed(self.vocab_size, self.text_width, embedding_init=nn.initializers.normal(0.02),
                                    dtype=self.dtype, param_dtype=self.param_dtype)
    self.positional_embedding = self.param("positional_embedding", nn.initializers.normal(0.01),
                                           (self.context_length, self.text_width), self.param_dtype)
    self.transformer = Transformer(self.text_layers, self.text_heads, self.dtype, self.param_dtype,
                                   self.tensor_parallel)
    self.ln_final = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype)
    self.text_projection = self.param("text_projection", nn.initializers.normal(self.text_width ** -0.5),
                                      (self.text_width, self.embed_dim), self.param_dtype)
    self.logit_scale = self.param("logit_scale", nn.initializers.constant(self.init_logit_scale), (),
                                  self.param_dtype)
    self.logit_bias = self.param("logit_bias", nn.initializers.constant(self.init_logit_bias), (),
                                 self.param_dtype)

  def encode_image(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """``[B, S, S, 3]`` float normalized images -> ``[B, embed_dim]`` unit float32 embeddings."""
    inputs.check_images(images, "CLIP")
    if images.shape[1:] != (self.image_size, self.image_size, 3):
      raise ValueError(f"CLIP was built for {self.image_size}x{self.image_size}x3 images; got "
                       f"{tuple(images.shape[1:])}")
    return l2_normalize(self.visual(images, train=train))

  def encode_text(self, tokens: jnp.ndarray) -> jnp.ndarray:
    """``[B, context_length]`` int token ids (end-of-text = the row's largest id) -> ``[B, embed_dim]`` unit."""
    if tokens.ndim != 2 or tokens.shape[1] != self.context_length:
      raise ValueError(f"CLIP expects tokens [B, {self.context_length}]; got shape {tuple(tokens.shape)}")
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
      raise ValueError(f"CLIP expects integer token ids; got dtype {tokens.dtype}")
    x = self.token_embedding(tokens) + self.positional_embedding.astype(self.dtype)
    causal = nn.make_causal_mask(tokens)  # [B, 1, L, L]: position i attends to j <= i.
    x = self.ln_final(self.transformer(x, causal))
    end = jnp.argmax(tokens, axis=-1)
    x = jnp.take_along_axis(x, end[:, None, None], axis=1)[:, 0]
    return l2_normalize(x @ self.text_projection.astype(self.dtype))

  def scale(self) -> jnp.ndarray:
    """The logit multiplier ``min(exp(logit_scale), 100)`` (float32 scalar)."""
    return jnp.minimum(jnp.exp(jnp.asarray(self.logit_scale, jnp.float32)), MAX_LOGIT_SCALE)

  def __call__(self, images: jnp.ndarray, tokens: Optional[jnp.ndarray] = None, train: bool = False):
    out = {"image": self.encode_image(images, train), "scale": self.scale(),
           "bias": jnp.asarray(self.logit_bias, jnp.float32)}
    if tokens is None and self.is_initializing():
      tokens = jnp.zeros((images.shape[0], self.context_length), jnp.int32)
    if tokens is not None:
      out["text"] = self.encode_text(tokens)
    return out


def _tiny(**kwargs):
  defaults = dict(embed_dim=64, image_size=64, vision_layers=3, vision_width=64, vision_patch_size=8,
                  vision_heads=2, context_length=16, vocab_size=128, text_width=64, text_heads=2, text_layers=2)
  return functools.partial(CLIP, **{**defaults, **kwargs})


# OpenAI's configurations (context 77, vocabulary 49408) and a tiny ViT for the shapes experiment.
ClipViTB32 = functools.partial(CLIP, embed_dim=512, vision="vit", image_size=224, vision_layers=12,
                               vision_width=768, vision_patch_size=32, text_width=512, text_heads=8, text_layers=12)
ClipViTB16 = functools.partial(ClipViTB32, vision_patch_size=16)
ClipRN50 = functools.partial(CLIP, embed_dim=1024, vision="resnet", image_size=224, vision_layers=(3, 4, 6, 3),
                             vision_width=64, text_width=512, text_heads=8, text_layers=12)
ClipTiny = _tiny()
