"""The transformer blocks of CLIP (Radford et al., ICML 2021, Sec. 2.4): pre-LN residual attention blocks with
QuickGELU MLPs, shared by the image ViT and the causal text encoder.

Submodule names follow OpenAI's ``clip/model.py`` (``resblocks_{i}/{ln_1, attn, ln_2, c_fc, c_proj}``) so its
state dicts import by renaming (``jvision.models.weights.openai_clip``). Layer norm epsilon 1e-5 as in PyTorch.
"""

from __future__ import annotations

from typing import Any, Optional

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import tensor_parallel

Dtype = Any


def quick_gelu(x: jnp.ndarray) -> jnp.ndarray:
  """OpenAI CLIP's GELU approximation ``x * sigmoid(1.702 x)``."""
  return x * nn.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
  """x + MHA(LN(x)), then x + MLP(LN(x)) with a 4x QuickGELU MLP. ``[B, N, D] -> [B, N, D]``.

  ``mask`` (optional) is a boolean attention mask broadcastable to ``[B, heads, N, N]``.
  """
  num_heads: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  tensor_parallel: bool = False  # Annotate kernels for the mesh's "model" axis (jvision.models.tensor_parallel).

  @nn.compact
  def __call__(self, x: jnp.ndarray, mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    width = x.shape[-1]
    first_init, second_init = tensor_parallel.mlp_inits(self.tensor_parallel)
    if width % self.num_heads:
      raise ValueError(f"width {width} is not divisible by {self.num_heads} heads")
    norm = lambda name: nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    dense = lambda features, init, name: nn.Dense(features, kernel_init=init, dtype=self.dtype,
                                                  param_dtype=self.param_dtype, name=name)
    y = norm("ln_1")(x)
    y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, dtype=self.dtype, param_dtype=self.param_dtype,
                                        name="attn", **tensor_parallel.attention_inits(self.tensor_parallel))(
                                            y, y, mask=mask)
    x = x + y
    y = dense(4 * width, first_init, "c_fc")(norm("ln_2")(x))
    return x + dense(width, second_init, "c_proj")(quick_gelu(y))


class Transformer(nn.Module):
  """A stack of ``layers`` residual attention blocks. ``[B, N, D] -> [B, N, D]``."""
  layers: int
  num_heads: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  tensor_parallel: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    for i in range(self.layers):
      x = ResidualAttentionBlock(self.num_heads, self.dtype, self.param_dtype, self.tensor_parallel,
                                 name=f"resblocks_{i}")(x, mask)
    return x
