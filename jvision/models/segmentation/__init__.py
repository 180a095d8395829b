"""Segmentation zoo: encoder/decoder models in the manner of segmentation_models.pytorch.

``create(arch, encoder, num_classes, **options)`` builds one of ``ARCHITECTURES`` (Unet, UnetPlusPlus, MAnet,
Linknet, FPN, PSPNet, PAN, DeepLabV3, DeepLabV3Plus) on one of ``encoders.ENCODERS`` (ResNet-18/34/50,
VGG-16/19, DenseNet-121, EfficientNet-B0..B3). Every model maps ``[B, H, W, 3]`` to ``[B, H, W, num_classes]``
float32 logits, or ``(masks, labels)`` with ``aux_classes``; H and W must be multiples of the model's output
stride (``2**encoder_depth``, or DeepLab's ``output_stride``), and other sizes get an error naming sizes that
work. Options are the architecture's fields (``decoder_channels``, ``decoder_batch_norm``,
``decoder_attention="scse"``, ``merge_policy``, ``upsampling``, ``output_stride``, ...) plus ``encoder_depth``,
``aux_classes``, ``aux_pooling``, ``aux_dropout``, ``dtype``, ``param_dtype``.

Config use: ``config.model.name = "segmentation"`` with ``config.model.arch``, ``config.model.encoder``, ...
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from jvision.models.segmentation.base import SegmentationModel
from jvision.models.segmentation.deeplab import DeepLabV3, DeepLabV3Plus
from jvision.models.segmentation.encoders import ENCODERS
from jvision.models.segmentation.fpn import FPN
from jvision.models.segmentation.linknet import Linknet
from jvision.models.segmentation.manet import MAnet
from jvision.models.segmentation.pan import PAN
from jvision.models.segmentation.pspnet import PSPNet
from jvision.models.segmentation.unet import Unet
from jvision.models.segmentation.unetplusplus import UnetPlusPlus

ARCHITECTURES = {
    "unet": Unet,
    "unetplusplus": UnetPlusPlus,
    "manet": MAnet,
    "linknet": Linknet,
    "fpn": FPN,
    "pspnet": PSPNet,
    "pan": PAN,
    "deeplabv3": DeepLabV3,
    "deeplabv3plus": DeepLabV3Plus,
}


def create(arch: str, encoder: str = "resnet34", num_classes: int = 1, **options: Any) -> SegmentationModel:
  """Builds architecture ``arch`` (case-insensitive, e.g. ``"Unet"``, ``"DeepLabV3Plus"``) on ``encoder``."""
  key = arch.lower().replace("_", "").replace("-", "").replace("+", "plus")
  if key not in ARCHITECTURES:
    raise ValueError(f"unknown segmentation architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
  if encoder not in ENCODERS:
    raise ValueError(f"unknown encoder {encoder!r}; known: {', '.join(ENCODERS)}")
  cls = ARCHITECTURES[key]
  fields = {f.name for f in dataclasses.fields(cls)} - {"parent", "name"}
  unknown = sorted(set(options) - fields)
  if unknown:
    raise ValueError(f"{cls.__name__} has no option(s) {', '.join(unknown)}; options: {', '.join(sorted(fields))}")
  if key in ("deeplabv3", "deeplabv3plus"):
    # The encoder runs exactly to the output stride (see deeplab.py).
    stride = options.get("output_stride", cls.output_stride)
    if stride not in (8, 16):
      raise ValueError(f"output_stride must be 8 or 16; got {stride}")
    options["encoder_depth"] = int(math.log2(stride))
  return cls(num_classes=num_classes, encoder=encoder, **options)
