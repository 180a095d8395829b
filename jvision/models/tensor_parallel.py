"""Tensor-parallel annotations for transformer blocks (Megatron-LM, Shoeybi et al. 2019).

A block's attention splits its heads over the mesh's ``model`` axis (query/key/value kernels
``[D, heads, head_dim]`` by heads, the output kernel ``[heads, head_dim, D]`` by heads) and its MLP splits the
hidden units (first kernel ``[D, hidden]`` by columns, second ``[hidden, D]`` by rows), so each block needs one
all-reduce forward and one backward. With ``enabled=False`` the initializers are the plain ones and ``init``
returns plain arrays; with ``enabled=True`` it returns ``nn.Partitioned`` boxes that ``jvision.sharding``
reads (``nn.meta.unbox`` gives the arrays; ``apply`` takes either).
"""

from __future__ import annotations

from flax import linen as nn

_DEFAULT = nn.linear.default_kernel_init


def _annotate(init, names, enabled: bool):
  return nn.with_partitioning(init, names) if enabled else init


def attention_inits(enabled: bool, init=_DEFAULT) -> dict:
  """``kernel_init``/``out_kernel_init`` keyword arguments of ``nn.MultiHeadDotProductAttention``."""
  return {"kernel_init": _annotate(init, (None, "model", None), enabled),
          "out_kernel_init": _annotate(init, ("model", None, None), enabled)}


def mlp_inits(enabled: bool, init=_DEFAULT) -> tuple:
  """Kernel initializers of an MLP's first (column-split) and second (row-split) dense layers."""
  return _annotate(init, (None, "model"), enabled), _annotate(init, ("model", None), enabled)
