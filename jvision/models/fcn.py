"""Fully convolutional networks: FCN-32s, FCN-16s, FCN-8s (Long, Shelhamer & Darrell, "Fully Convolutional
Networks for Semantic Segmentation", CVPR 2015), and a SegNet-style max-unpooling decoder variant.

A backbone (VGG-16 / ResNet via ``jvision.models.segmentation.encoders``) gives feature maps at strides 8
(pool3 / layer2), 16 (pool4 / layer3) and 32 (pool5 / layer4). The stride-32 map goes through the "fc6/fc7"
convolutions (``head_width`` channels; 4096 in the paper) and a 1x1 score layer. FCN-32s upsamples those scores
32x with one learnable transposed convolution initialized to bilinear interpolation (sec. 3.3); FCN-16s first
upsamples 2x and adds 1x1 scores of the stride-16 map (a zero-initialized score layer, so training starts from
FCN-32s, sec. 4.2), then 16x; FCN-8s adds the stride-8 scores as well, then 8x.

``decoder="unpool"`` (SegNet, Badrinarayanan et al. 2017) replaces each 2x transposed convolution by max
unpooling with the indices of a 2x2 max-pool of the skip map (``jvision.ops.unpool``) followed by a 3x3 conv.
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from jvision.models import inputs
from jvision.models.segmentation.encoders import Encoder, check_divisible
from jvision.models.upsampling import bilinear_upsampler
from jvision.ops import unpool

Dtype = Any
VARIANTS = {"32s": 0, "16s": 1, "8s": 2}


class FCN(nn.Module):
  """``[B, H, W, 3]`` images (H, W multiples of 32) -> ``[B, H, W, num_classes]`` float32 logits.

  Attributes:
    num_classes: output classes (background included).
    backbone: an encoder name (``vgg16``, ``resnet18``, ``resnet50``, ...).
    variant: ``"32s"``, ``"16s"`` or ``"8s"``: how many skip levels (pool4, pool3) are fused.
    head_width: channels of the fc6/fc7 convolutions (fc6 is 3x3 here: the paper's 7x7 assumes 224+ inputs).
    decoder: ``"transpose"`` (learnable bilinear-initialized transposed convs) or ``"unpool"`` (max unpooling).
    dropout_rate: dropout after fc6 and fc7 (0.5 in the paper).
    encoder_width: a ResNet backbone's first-stage channels (0: the backbone's own, 64).
    cifar_stem: a ResNet backbone with the 3x3/1 stem and no max-pool, for small images: the fused maps are
      then at strides 2, 4 and 8 instead of 8, 16 and 32 (as if the image were 4x larger), and H, W need only be
      multiples of 8.
  """
  num_classes: int = 21
  backbone: str = "vgg16"
  variant: str = "8s"
  head_width: int = 512
  decoder: str = "transpose"
  dropout_rate: float = 0.5
  encoder_width: int = 0
  cifar_stem: bool = False
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    inputs.check_images(images, "FCN")
    if self.variant not in VARIANTS:
      raise ValueError(f"unknown FCN variant {self.variant!r}; known: {', '.join(VARIANTS)}")
    if self.decoder not in ("transpose", "unpool"):
      raise ValueError(f"unknown FCN decoder {self.decoder!r}; known: transpose, unpool")
    check_divisible(images, 8 if self.cifar_stem else 32, f"FCN-{self.variant}")
    conv = functools.partial(nn.Conv, dtype=self.dtype, param_dtype=self.param_dtype)
    features = Encoder(self.backbone, 5, self.dtype, self.param_dtype, width=self.encoder_width,
                       cifar_stem=self.cifar_stem, name="encoder")(images, train)
    pool3, pool4, pool5 = features[2:]
    x = nn.relu(conv(self.head_width, (3, 3), padding=((1, 1), (1, 1)), name="fc6")(pool5))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.relu(conv(self.head_width, (1, 1), name="fc7")(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    scores = conv(self.num_classes, (1, 1), name="score_fr")(x)
    skips = [("pool4", pool4), ("pool3", pool3)][:VARIANTS[self.variant]]
    for name, skip in skips:
      scores = self._upsample2x(scores, skip, f"upscore_{name}")
      # Zero init: the fused net starts as the coarser one (FCN sec. 4.2).
      scores = scores + conv(self.num_classes, (1, 1), kernel_init=nn.initializers.zeros,
                             name=f"score_{name}")(skip)
    factor = images.shape[1] // scores.shape[1]
    scores = bilinear_upsampler(self.num_classes, factor, use_bias=False, dtype=self.dtype,
                                param_dtype=self.param_dtype, name="upscore_final")(scores)
    return jnp.asarray(scores, jnp.float32)

  def _upsample2x(self, scores, skip, name):
    if self.decoder == "transpose":
      return bilinear_upsampler(self.num_classes, 2, use_bias=False, dtype=self.dtype,
                                param_dtype=self.param_dtype, name=name)(scores)
    # Max unpooling: the positions of the skip map's 2x2 maxima (summed over channels) carry the scores.
    strength = jnp.sum(skip, axis=-1, keepdims=True)
    _, indices = unpool.max_pool_with_argmax(strength, 2)
    indices = jnp.broadcast_to(indices, scores.shape)
    x = unpool.max_unpool(scores, indices, skip.shape[1:3])
    return nn.Conv(self.num_classes, (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype,
                   param_dtype=self.param_dtype, name=name)(x)


FCN32s = functools.partial(FCN, variant="32s")
FCN16s = functools.partial(FCN, variant="16s")
FCN8s = functools.partial(FCN, variant="8s")
