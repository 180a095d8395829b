"""Feature Pyramid Network (Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017, section 3).

A top-down pathway with lateral connections: each backbone map gets a 1x1 lateral convolution to ``width``
channels, the coarser merged map is upsampled 2x (nearest) and added, and a 3x3 convolution smooths the sum.
``extra_pool`` appends a stride-2 max-pool of the coarsest output (P6 of the paper, used by the RPN only).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn


class FPN(nn.Module):
  """``[B, H_i, W_i, C_i]`` maps, finest first, each half the size of the previous -> as many
  ``[B, H_i, W_i, width]`` maps (plus one coarser with ``extra_pool``)."""
  width: int = 256
  extra_pool: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, features: Sequence[jnp.ndarray]) -> list:
    if not features:
      raise ValueError("FPN needs at least one feature map")
    for finer, coarser in zip(features[:-1], features[1:]):
      if (-(-finer.shape[1] // 2), -(-finer.shape[2] // 2)) != coarser.shape[1:3]:
        raise ValueError(f"FPN maps must halve from level to level, got {finer.shape} then {coarser.shape}")
    conv = lambda kernel, name: nn.Conv(self.width, (kernel, kernel), padding="SAME", dtype=self.dtype,
                                        param_dtype=self.param_dtype, name=name)
    laterals = [conv(1, f"lateral{i}")(jnp.asarray(f, self.dtype)) for i, f in enumerate(features)]
    merged = [laterals[-1]]
    for lateral in reversed(laterals[:-1]):
      coarser = merged[0]
      upsampled = jax.image.resize(coarser, (coarser.shape[0], coarser.shape[1] * 2, coarser.shape[2] * 2,
                                             coarser.shape[3]), "nearest")
      merged.insert(0, lateral + upsampled[:, :lateral.shape[1], :lateral.shape[2]])
    outputs = [conv(3, f"output{i}")(m) for i, m in enumerate(merged)]
    if self.extra_pool:
      outputs.append(nn.max_pool(outputs[-1], (1, 1), (2, 2), padding="SAME"))
    return outputs
