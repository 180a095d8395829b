"""Region Proposal Network head (Ren et al., "Faster R-CNN", NeurIPS 2015, section 3.1).

A 3x3 convolution with ReLU slides over each feature map; two sibling 1x1 convolutions predict, for each of the
``A`` anchors of a cell, an objectness logit (one sigmoid score, as torchvision, rather than the paper's
two-way softmax) and four box deltas. The same head (shared weights) runs on every pyramid level.
``rpn_anchors`` lays out the matching anchors (``jvision.ops.anchors.anchor_grid``, order row, column, anchor).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision.ops import anchors as anchor_ops


def rpn_anchors(feature_sizes: Sequence[Sequence[int]], strides: Sequence[int],
                scales: Sequence[Sequence[float]], aspect_ratios: Sequence[float]):
  """Anchors of every level, concatenated: ``([A_total, 4] xyxy pixels, per-level counts)``.

  Anchors are centred on cell centres (``offset=0.5``) so a stride-``s`` map covers the image symmetrically.
  """
  grids = [anchor_ops.anchor_grid(size, stride, level_scales, aspect_ratios, offset=0.5)
           for size, stride, level_scales in zip(feature_sizes, strides, scales)]
  return jnp.concatenate(grids), tuple(int(g.shape[0]) for g in grids)


class RPNHead(nn.Module):
  """``[B, H, W, C]`` -> ``objectness [B, H * W * A]`` float32 logits, ``deltas [B, H * W * A, 4]``."""
  num_anchors: int
  width: int = 256
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, features):
    x = nn.relu(nn.Conv(self.width, (3, 3), padding="SAME", dtype=self.dtype, param_dtype=self.param_dtype,
                        kernel_init=nn.initializers.normal(0.01), name="conv")(jnp.asarray(features, self.dtype)))
    head = lambda outputs, name: nn.Conv(outputs, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype,
                                         kernel_init=nn.initializers.normal(0.01), name=name)(x)
    objectness = head(self.num_anchors, "objectness")
    deltas = head(4 * self.num_anchors, "deltas")
    batch = features.shape[0]
    return (objectness.reshape(batch, -1).astype(jnp.float32),
            deltas.reshape(batch, -1, 4).astype(jnp.float32))
