"""DenseNet-121/169 (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017), DenseNet-BC form.

Each dense layer is BN-ReLU-Conv1x1(``bn_size * growth_rate``)-BN-ReLU-Conv3x3(``growth_rate``) and its output
is concatenated to its input; transitions halve the channels (1x1 conv) and the resolution (2x2 average pool).
Submodule names follow torchvision (``conv0``, ``norm0``, ``denseblock1_denselayer1/conv1``,
``transition1/conv``, ``norm5``, ``classifier``).

Features (``return_features=True``): ``stem`` (after conv0/norm0/relu, stride 2), ``block1``..``block3`` (dense
block outputs before their transition, strides 4, 8, 16) and ``block4`` (after norm5 and ReLU, stride 32).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import inputs, layers
from jvision.ops.pool import max_pool

Dtype = Any


class DenseLayer(nn.Module):
  """[B, H, W, C] -> [B, H, W, C + growth_rate]."""
  growth_rate: int
  bn_size: int = 4
  bn_epsilon: float = 1e-5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype)
    conv = functools.partial(layers.Conv, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype)
    y = conv(self.bn_size * self.growth_rate, (1, 1), name="conv1")(nn.relu(norm(name="norm1")(x)))
    y = conv(self.growth_rate, (3, 3), padding=((1, 1), (1, 1)), name="conv2")(nn.relu(norm(name="norm2")(y)))
    return jnp.concatenate([x, y], axis=-1)


class Transition(nn.Module):
  """[B, H, W, C] -> [B, H/2, W/2, C/2]."""
  bn_epsilon: float = 1e-5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = layers.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=self.bn_epsilon, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="norm")(x)
    x = layers.Conv(x.shape[-1] // 2, (1, 1), use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                    name="conv")(nn.relu(x))
    return nn.avg_pool(x, (2, 2), (2, 2))


class DenseNet(nn.Module):
  """DenseNet classifier. ``[B, H, W, C]`` float images (H, W >= 32) -> ``[B, num_classes]`` float32 logits."""
  block_config: Sequence[int] = (6, 12, 24, 16)
  num_classes: int = 1000
  growth_rate: int = 32
  num_init_features: int = 64
  bn_size: int = 4
  bn_epsilon: float = 1e-5  # Keras applications: 1.001e-5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  head_name = "classifier"

  @nn.compact
  def __call__(self, images, train: bool = False, return_features: bool = False):
    """Returns logits ``[B, num_classes]``, or ``(logits, features)`` with ``return_features``."""
    inputs.check_images(images, type(self).__name__, min_size=32)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype)
    features = {}
    x = layers.Conv(self.num_init_features, (7, 7), (2, 2), padding=((3, 3), (3, 3)), use_bias=False,
                    dtype=self.dtype, param_dtype=self.param_dtype, name="conv0")(jnp.asarray(images, self.dtype))
    x = nn.relu(norm(name="norm0")(x))
    features["stem"] = x
    x = max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    for i, num_layers in enumerate(self.block_config, start=1):
      for j in range(1, num_layers + 1):
        x = DenseLayer(self.growth_rate, self.bn_size, self.bn_epsilon, self.dtype, self.param_dtype,
                       name=f"denseblock{i}_denselayer{j}")(x, train)
      if i < len(self.block_config):
        features[f"block{i}"] = x
        x = Transition(self.bn_epsilon, self.dtype, self.param_dtype, name=f"transition{i}")(x, train)
    x = nn.relu(norm(name="norm5")(x))
    features[f"block{len(self.block_config)}"] = x
    logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                      name="classifier")(jnp.mean(x, axis=(1, 2)))
    logits = jnp.asarray(logits, jnp.float32)
    return (logits, features) if return_features else logits


DenseNet121 = functools.partial(DenseNet, block_config=(6, 12, 24, 16))
DenseNet169 = functools.partial(DenseNet, block_config=(6, 12, 32, 32))
