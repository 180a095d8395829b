"""The shape every zoo model shares: encoder -> decoder -> segmentation head (+ optional auxiliary labels).

A subclass defines ``decode(features, train) -> [B, h, w, C]`` over the encoder's feature list (strides 2, 4,
... ``2**encoder_depth``) and, where it is not ``2**encoder_depth``, ``required_multiple()``. The head maps the
decoder output to ``num_classes`` logits at the input size; with ``aux_classes`` the model returns
``(masks, labels)``, the labels from the deepest encoder features (segmentation_models.pytorch's aux_params).
"""

from __future__ import annotations

from typing import Any, Optional

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import inputs
from jvision.models.segmentation.blocks import ClassificationHead, SegmentationHead
from jvision.models.segmentation.encoders import Encoder, check_divisible

Dtype = Any


class SegmentationModel(nn.Module):
  """``[B, H, W, 3]`` -> ``[B, H, W, num_classes]`` float32 logits (or ``(masks, [B, aux_classes])``)."""
  num_classes: int = 1
  encoder: str = "resnet34"
  encoder_depth: int = 5
  aux_classes: Optional[int] = None
  aux_pooling: str = "avg"
  aux_dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def required_multiple(self) -> int:
    return 2 ** self.encoder_depth

  def decode(self, features: list, train: bool) -> jnp.ndarray:
    raise NotImplementedError

  @nn.compact
  def __call__(self, images, train: bool = False):
    name = type(self).__name__
    inputs.check_images(images, name)
    check_divisible(images, self.required_multiple(), f"{name} ({self.encoder}, depth {self.encoder_depth})")
    features = Encoder(self.encoder, self.encoder_depth, self.dtype, self.param_dtype, name="encoder")(
        images, train)
    decoded = self.decode(features, train)
    masks = SegmentationHead(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                             name="segmentation_head")(decoded, images.shape[1], images.shape[2])
    if self.aux_classes is None:
      return masks
    labels = ClassificationHead(self.aux_classes, self.aux_pooling, self.aux_dropout, dtype=self.dtype,
                                param_dtype=self.param_dtype, name="classification_head")(features[-1], train)
    return masks, labels
