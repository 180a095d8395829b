"""Convolutional backbones of two-stage detectors as named feature maps with known strides.

``DetectionBackbone(architecture)`` returns ``{name: [B, H / stride, W / stride, C]}``:

* ``"simple"``: a small VGG-like stack for 64-256 px images trained from scratch (the base of
  ``jvision.models.ssd`` in spirit): a stride-2 stem of two 3x3 conv-BN-ReLU, then per further stage 2x2 max
  pooling and two 3x3 conv-BN-ReLU. Maps ``c1``, ``c2``, ... with strides 2, 4, 8, ...
* ``"resnet18"`` .. ``"resnet101"``: ``jvision.models.resnet`` (torchvision names, so ImageNet weights import
  with ``jvision.models.weights``); maps ``c2``..``c5`` are ``layer1``..``layer4``, strides 4, 8, 16, 32.
  The classifier ``fc`` exists but is unused.

``backbone_strides(architecture, widths)`` gives the strides without building anything.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision import models, registry
from jvision.models import inputs, layers
from jvision.ops.pool import max_pool

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")
BACKBONES = ("simple",) + RESNETS


def backbone_strides(name: str, widths: Sequence[int] = ()) -> dict[str, int]:
  """Map name -> stride of ``DetectionBackbone(name, widths)``."""
  if name == "simple":
    return {f"c{i + 1}": 2 ** (i + 1) for i in range(len(widths))}
  if name in RESNETS:
    return {f"c{i}": 2 ** i for i in range(2, 6)}
  raise ValueError(f"unknown detection backbone {name!r}; known: {', '.join(BACKBONES)}")


class ConvBNReLU(nn.Module):
  """3x3 convolution, batch norm, ReLU."""
  features: int
  stride: int = 1
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Conv(self.features, (3, 3), (self.stride, self.stride), padding="SAME", use_bias=False,
                dtype=self.dtype, param_dtype=self.param_dtype)(x)
    x = layers.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return nn.relu(x)


class DetectionBackbone(nn.Module):
  """``[B, H, W, 3]`` images -> dict of feature maps (see the module docstring).

  Attributes:
    architecture: ``"simple"`` or a ResNet (``BACKBONES``).
    widths: channels per stage of ``"simple"``.
  """
  architecture: str = "simple"
  widths: Sequence[int] = (32, 64, 128)
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False) -> dict:
    backbone_strides(self.architecture, self.widths)  # Validates the name.
    inputs.check_images(images, "DetectionBackbone")
    if self.architecture in RESNETS:
      constructor = registry.lookup("model", models.MODELS, self.architecture)
      resnet = constructor(num_classes=1, dtype=self.dtype, param_dtype=self.param_dtype, name="resnet")
      _, features = resnet(images, train=train, return_features=True)
      return {f"c{i + 1}": features[f"layer{i}"] for i in range(1, 5)}
    conv = functools.partial(ConvBNReLU, dtype=self.dtype, param_dtype=self.param_dtype)
    x = jnp.asarray(images, self.dtype)
    features = {}
    for stage, width in enumerate(self.widths):
      if stage == 0:
        x = conv(width, stride=2, name="stem")(x, train)
      else:
        x = max_pool(x, (2, 2), (2, 2), padding="SAME")
        x = conv(width, name=f"stage{stage}_conv1")(x, train)
      x = conv(width, name=f"stage{stage}_conv2")(x, train)
      features[f"c{stage + 1}"] = x
    return features
