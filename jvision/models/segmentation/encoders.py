"""Encoders for the segmentation zoo: backbones of ``jvision.models`` as feature pyramids.

``Encoder(name, depth)`` runs a classification backbone with ``return_features=True`` and returns its feature
maps at strides 2, 4, 8, 16, 32 (the first ``depth`` of them), as segmentation_models.pytorch's encoders do.
The backbone keeps its own submodule names (so torchvision / Keras weights import into ``encoder/backbone``),
with a one-unit classifier that the decoders never read (only its few parameters are wasted).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import densenet, efficientnet, resnet, vgg

Dtype = Any

# name -> (constructor, extra constructor kwargs, feature names at strides 2, 4, 8, 16, 32).
ENCODERS = {
    "resnet18": (resnet.ResNet18, {}, ("stem", "layer1", "layer2", "layer3", "layer4")),
    "resnet34": (resnet.ResNet34, {}, ("stem", "layer1", "layer2", "layer3", "layer4")),
    "resnet50": (resnet.ResNet50, {}, ("stem", "layer1", "layer2", "layer3", "layer4")),
    "vgg16": (vgg.VGG16, {"classifier_width": 1, "pool_to": 1, "dropout_rate": 0.0},
              ("pool1", "pool2", "pool3", "pool4", "pool5")),
    "vgg19": (vgg.VGG19, {"classifier_width": 1, "pool_to": 1, "dropout_rate": 0.0},
              ("pool1", "pool2", "pool3", "pool4", "pool5")),
    "vgg16_bn": (vgg.VGG16BN, {"classifier_width": 1, "pool_to": 1, "dropout_rate": 0.0},
                 ("pool1", "pool2", "pool3", "pool4", "pool5")),
    "densenet121": (densenet.DenseNet121, {}, ("stem", "block1", "block2", "block3", "block4")),
    "efficientnet_b0": (efficientnet.EfficientNetB0, {}, ("stage1", "stage2", "stage3", "stage5", "stage7")),
    "efficientnet_b1": (efficientnet.EfficientNetB1, {}, ("stage1", "stage2", "stage3", "stage5", "stage7")),
    "efficientnet_b2": (efficientnet.EfficientNetB2, {}, ("stage1", "stage2", "stage3", "stage5", "stage7")),
    "efficientnet_b3": (efficientnet.EfficientNetB3, {}, ("stage1", "stage2", "stage3", "stage5", "stage7")),
}


def check_encoder(name: str, depth: int) -> None:
  if name not in ENCODERS:
    raise ValueError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")
  if not 1 <= depth <= 5:
    raise ValueError(f"encoder depth must be in 1..5; got {depth}")


def check_divisible(images: jnp.ndarray, multiple: int, model_name: str) -> None:
  """An input whose size is not a multiple of the model's output stride is an error naming sizes that work."""
  height, width = images.shape[1:3]
  if height % multiple or width % multiple:
    def near(n):
      low = max(multiple, n // multiple * multiple)
      return f"{low} or {low + multiple}" if low != n else str(n)
    raise ValueError(f"{model_name} needs H and W divisible by {multiple}; got {height}x{width}. Sizes that "
                     f"work: height {near(height)}, width {near(width)} (pad or resize the images)")


class Encoder(nn.Module):
  """``[B, H, W, C]`` -> list of ``depth`` feature maps ``[B, H / 2**i, W / 2**i, C_i]``, i = 1..depth.

  ``width`` (channels of the first stage; 0 keeps the backbone's own) and ``cifar_stem`` (a 3x3/1 stem without
  max-pool, so the maps are at strides 1, 1, 2, 4, 8) apply to the ResNet encoders only.
  """
  backbone: str = "resnet18"
  depth: int = 5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  width: int = 0
  cifar_stem: bool = False

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_encoder(self.backbone, self.depth)
    constructor, kwargs, names = ENCODERS[self.backbone]
    if self.width < 0:
      raise ValueError(f"encoder width must be positive (or 0 for the backbone's own); got {self.width}")
    if self.width or self.cifar_stem:
      if not self.backbone.startswith("resnet"):
        raise ValueError(f"encoder width / cifar_stem apply to the ResNet encoders only; got {self.backbone!r}")
      kwargs = dict(kwargs, cifar_stem=self.cifar_stem)
      if self.width:
        kwargs["width"] = self.width
    backbone = constructor(num_classes=1, dtype=self.dtype, param_dtype=self.param_dtype, name="backbone",
                           **kwargs)
    _, features = backbone(images, train=train, return_features=True)
    return [features[n] for n in names[:self.depth]]


def encoder_channels(name: str, depth: int = 5, size: int = 64) -> tuple[int, ...]:
  """Channels of each feature map (found by shape evaluation, nothing is computed)."""
  import jax
  check_encoder(name, depth)
  encoder = Encoder(name, depth)
  shapes = jax.eval_shape(lambda x: encoder.init_with_output(jax.random.PRNGKey(0), x)[0],
                          jnp.zeros((1, size, size, 3)))
  return tuple(s.shape[-1] for s in shapes)
