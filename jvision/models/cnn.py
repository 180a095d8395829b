"""A configurable CNN: the classic classification exercise.

Every knob that the exercise varies is a field: the number and width of the conv blocks (``features``),
convolutions per block, filter (kernel) size, activation, batch norm on/off, pooling type, dropout rate and the
width of the dense head. A block is ``[conv -> (BN) -> act] x convs_per_block -> pool``; the head is
``global-average or flatten -> dense(head_width) -> act -> dropout -> dense(num_classes)``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jvision.models import layers
from jvision.ops.pool import max_pool

ACTIVATIONS: dict[str, Callable[[jnp.ndarray], jnp.ndarray]] = {
    "relu": nn.relu,
    "leaky_relu": nn.leaky_relu,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "swish": nn.swish,
    "tanh": jnp.tanh,
}
POOLINGS = ("max", "avg", "none")


def log_mean_exp(x: jnp.ndarray, axis) -> jnp.ndarray:
  """log(mean(exp(x))) over ``axis``: a smooth maximum, between the mean and the maximum of ``x``."""
  count = np.prod([x.shape[a] for a in axis])
  return jax.nn.logsumexp(x.astype(jnp.float32), axis=axis).astype(x.dtype) - jnp.log(count).astype(x.dtype)


GLOBAL_POOL_OPS = {"mean": jnp.mean, "max": jnp.max, "log_mean_exp": log_mean_exp}


class CNN(nn.Module):
  """Configurable convolutional classifier.

  Attributes:
    num_classes: number of output logits.
    features: output channels of each conv block; the number of blocks is ``len(features)``.
    convs_per_block: convolutions in each block.
    kernel_size: side of the square convolution filters.
    activation: one of ``ACTIVATIONS``.
    batch_norm: batch normalization after each convolution.
    pooling: ``"max"``, ``"avg"`` (2x2, stride 2, after each block) or ``"none"``.
    dropout_rate: dropout rate just before the output layer.
    head_width: width of the hidden dense layer of the head; 0 for a linear head.
    global_pool: global pooling (``global_pool_op``) before the head instead of flattening.
    global_pool_op: ``"mean"`` (global average pooling) or ``"max"`` (global max pooling: a logit then
      follows the strongest location of each feature, so its gradient concentrates there) or
      ``"log_mean_exp"`` (a smooth maximum: the gradient is shared by the strongest locations in proportion to
      exp of their values).
    class_map: with ``global_pool``, apply the head at every location of the last feature map (1x1
      convolutions: a map of class scores) and pool the scores instead of the features, as in Oquab et al.,
      "Is object localization for free?" (CVPR 2015); with ``"max"`` each logit is the score of one location.
    dtype: compute dtype; ``param_dtype``: storage dtype of the parameters.
  """

  num_classes: int = 10
  features: Sequence[int] = (32, 64)
  convs_per_block: int = 1
  kernel_size: int = 3
  activation: str = "relu"
  batch_norm: bool = True
  pooling: str = "max"
  dropout_rate: float = 0.0
  head_width: int = 128
  global_pool: bool = False
  global_pool_op: str = "mean"
  class_map: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def _check(self):
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")
    if self.pooling not in POOLINGS:
      raise ValueError(f"unknown pooling {self.pooling!r}; known: {', '.join(POOLINGS)}")
    if self.global_pool_op not in GLOBAL_POOL_OPS:
      raise ValueError(f"unknown global_pool_op {self.global_pool_op!r}; known: {', '.join(GLOBAL_POOL_OPS)}")
    if self.class_map and not self.global_pool:
      raise ValueError("class_map=True pools a map of class scores: it needs global_pool=True")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
    if self.kernel_size < 1 or not self.features:
      raise ValueError(f"need kernel_size >= 1 and at least one block, got {self.kernel_size}, "
                       f"{self.features}")

  @nn.compact
  def __call__(self, images: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
    """``images [B, H, W, C]`` -> logits ``[B, num_classes]`` (float32)."""
    self._check()
    if images.ndim != 4:
      raise ValueError(f"CNN expects images [B, H, W, C], got shape {images.shape}")
    act = ACTIVATIONS[self.activation]
    x = images.astype(self.dtype)
    for block, width in enumerate(self.features):
      for i in range(self.convs_per_block):
        x = layers.Conv(width, (self.kernel_size, self.kernel_size), use_bias=not self.batch_norm,
                        dtype=self.dtype, param_dtype=self.param_dtype, name=f"conv{block}_{i}")(x)
        if self.batch_norm:
          x = layers.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype,
                           param_dtype=self.param_dtype, name=f"bn{block}_{i}")(x)
        x = act(x)
      if self.pooling == "max":
        x = max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
      elif self.pooling == "avg":
        x = nn.avg_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    if not self.global_pool:
      x = x.reshape((x.shape[0], -1))
    elif not self.class_map:
      x = GLOBAL_POOL_OPS[self.global_pool_op](x, axis=(1, 2))
    # Dense layers act on the last axis: on [B, h, w, C] (class_map) they are 1x1 convolutions.
    if self.head_width > 0:
      x = nn.Dense(self.head_width, dtype=self.dtype, param_dtype=self.param_dtype, name="hidden")(x)
      x = act(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="logits")(x)
    if self.class_map:
      x = GLOBAL_POOL_OPS[self.global_pool_op](x, axis=(1, 2))
    return x.astype(jnp.float32)
