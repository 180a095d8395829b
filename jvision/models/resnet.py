"""ResNet-18/34/50/101 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

Submodule names follow torchvision (``conv1``, ``bn1``, ``layer2_0/downsample_conv``, ``fc``) so that weight
import is a rename. ``stride_on_3x3=True`` is the torchvision "v1.5" bottleneck (stride on the 3x3 conv);
``False`` puts it on the first 1x1 conv as the paper and Keras applications do. ``cifar_stem`` replaces the
7x7/2 conv and max-pool by a 3x3/1 conv for 32x32 inputs (Section 4.2 of the paper).

Features (``return_features=True``): ``stem`` (after conv1/bn1/relu, stride 2; stride 1 with
``cifar_stem``), ``layer1``..``layer4`` (strides 4, 8, 16, 32; 1, 2, 4, 8 with ``cifar_stem``).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import inputs, layers
from jvision.ops.pool import max_pool

Dtype = Any


class BasicBlock(nn.Module):
  """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut. [B, H, W, C] -> [B, H/s, W/s, F]."""
  features: int
  strides: int = 1
  stride_on_3x3: bool = True  # unused: a basic block has no 1x1 conv; kept so blocks share a signature
  bn_epsilon: float = 1e-5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  expansion = 1

  @nn.compact
  def __call__(self, x, train: bool):
    conv = functools.partial(layers.Conv, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype)
    s = self.strides
    y = conv(self.features, (3, 3), (s, s), padding=((1, 1), (1, 1)), name="conv1")(x)
    y = nn.relu(norm(name="bn1")(y))
    y = conv(self.features, (3, 3), padding=((1, 1), (1, 1)), name="conv2")(y)
    y = norm(name="bn2")(y)
    if s != 1 or x.shape[-1] != self.features:
      x = conv(self.features, (1, 1), (s, s), padding="VALID", name="downsample_conv")(x)
      x = norm(name="downsample_bn")(x)
    return nn.relu(x + y)


class Bottleneck(nn.Module):
  """1x1 reduce, 3x3, 1x1 expand (x4) with a projection shortcut. [B, H, W, C] -> [B, H/s, W/s, 4F]."""
  features: int
  strides: int = 1
  stride_on_3x3: bool = True
  bn_epsilon: float = 1e-5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  expansion = 4

  @nn.compact
  def __call__(self, x, train: bool):
    conv = functools.partial(layers.Conv, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype)
    s = self.strides
    s1, s3 = (1, s) if self.stride_on_3x3 else (s, 1)
    y = conv(self.features, (1, 1), (s1, s1), padding="VALID", name="conv1")(x)
    y = nn.relu(norm(name="bn1")(y))
    y = conv(self.features, (3, 3), (s3, s3), padding=((1, 1), (1, 1)), name="conv2")(y)
    y = nn.relu(norm(name="bn2")(y))
    y = conv(self.features * 4, (1, 1), padding="VALID", name="conv3")(y)
    y = norm(name="bn3")(y)
    if s != 1 or x.shape[-1] != self.features * 4:
      x = conv(self.features * 4, (1, 1), (s, s), padding="VALID", name="downsample_conv")(x)
      x = norm(name="downsample_bn")(x)
    return nn.relu(x + y)


class ResNet(nn.Module):
  """ResNet classifier. ``[B, H, W, C]`` float images -> ``[B, num_classes]`` float32 logits.

  Attributes:
    stage_sizes: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50.
    block: ``BasicBlock`` or ``Bottleneck``.
    num_classes: size of the linear head.
    width: channels of the first stage (64 in the paper); later stages double it.
    cifar_stem: 3x3/1 stem without max-pool, for 32x32 inputs.
    stride_on_3x3: torchvision v1.5 (True) or paper/Keras (False) placement of a bottleneck's stride.
    bn_epsilon: 1e-5 (torchvision); Keras applications use 1.001e-5.
  """
  stage_sizes: Sequence[int]
  block: Any = BasicBlock
  num_classes: int = 1000
  width: int = 64
  cifar_stem: bool = False
  stride_on_3x3: bool = True
  bn_epsilon: float = 1e-5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  head_name = "fc"  # the classifier, replaced by jvision.finetune.replace_head

  @nn.compact
  def __call__(self, images, train: bool = False, return_features: bool = False):
    """Returns logits ``[B, num_classes]``, or ``(logits, features)`` with ``return_features``."""
    inputs.check_images(images, type(self).__name__)
    features = {}
    x = jnp.asarray(images, self.dtype)
    if self.cifar_stem:
      x = layers.Conv(self.width, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="conv1")(x)
    else:
      x = layers.Conv(self.width, (7, 7), (2, 2), padding=((3, 3), (3, 3)), use_bias=False, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="conv1")(x)
    x = layers.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=self.bn_epsilon,
                     dtype=self.dtype, param_dtype=self.param_dtype, name="bn1")(x)
    x = nn.relu(x)
    features["stem"] = x
    if not self.cifar_stem:
      x = max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        strides = 2 if i > 0 and j == 0 else 1
        x = self.block(self.width * 2**i, strides, stride_on_3x3=self.stride_on_3x3,
                       bn_epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=self.param_dtype,
                       name=f"layer{i + 1}_{j}")(x, train)
      features[f"layer{i + 1}"] = x
    x = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="fc")(x)
    logits = jnp.asarray(logits, jnp.float32)
    return (logits, features) if return_features else logits


ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), block=BasicBlock)
ResNet34 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BasicBlock)
ResNet50 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block=Bottleneck)
ResNet101 = functools.partial(ResNet, stage_sizes=(3, 4, 23, 3), block=Bottleneck)
