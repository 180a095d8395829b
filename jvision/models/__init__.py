"""Model zoo: one architecture per module, flax.linen only.

``get_model(name, **kwargs)`` builds a model from its config name. Every model is called as
``model.apply(variables, images, train=...)`` with NHWC images, and keeps no state outside ``params`` and
``batch_stats``.

Conventions shared by every backbone:
  - ``model.apply(variables, images, train=False)`` with float NHWC ``images`` returns float32 logits
    ``[B, num_classes]``; ``train=True`` needs ``mutable=['batch_stats']`` for batch-norm models and a
    ``'dropout'`` rng where the model has dropout.
  - Constructor fields ``num_classes``, ``dtype`` (compute) and ``param_dtype`` (storage) on every model.
  - Named features: ``model.apply(variables, images, return_features=True)`` returns ``(logits, features)``
    where ``features`` is a dict name -> ``[B, h, w, C]``. Names per family (strides in the module docstrings):
    ResNet ``stem``, ``layer1``..``layer4``; VGG ``conv1_1``..``conv5_4`` (after ReLU), ``pool1``..``pool5``;
    DenseNet ``stem``, ``block1``..``block4``; EfficientNet ``stem``, ``stage1``..``stage7``, ``top``;
    ViT ``encoder_layer_{i}`` and ``encoded`` (patch tokens as ``[B, H/16, W/16, width]`` maps).
  - ``model.head_name`` names the classifier module that ``jvision.finetune.replace_head`` swaps.
  - Submodule names follow torchvision where it has the model, so ``jvision.models.weights`` imports
    torchvision state dicts and Keras applications checkpoints by renaming.
"""

from __future__ import annotations

from typing import Any

from flax import linen as nn

from jvision import registry

# Config name -> "module:constructor". Add a line here when adding an architecture.
MODELS = {
    "cnn": "jvision.models.cnn:CNN",
    "resnet18": "jvision.models.resnet:ResNet18",
    "resnet34": "jvision.models.resnet:ResNet34",
    "resnet50": "jvision.models.resnet:ResNet50",
    "resnet101": "jvision.models.resnet:ResNet101",
    "resnet18_aa": "jvision.models.attention_augmented_conv:ResNet18AA",
    "vgg11": "jvision.models.vgg:VGG11",
    "vgg11_bn": "jvision.models.vgg:VGG11BN",
    "vgg13": "jvision.models.vgg:VGG13",
    "vgg13_bn": "jvision.models.vgg:VGG13BN",
    "vgg16": "jvision.models.vgg:VGG16",
    "vgg16_bn": "jvision.models.vgg:VGG16BN",
    "vgg19": "jvision.models.vgg:VGG19",
    "vgg19_bn": "jvision.models.vgg:VGG19BN",
    "densenet121": "jvision.models.densenet:DenseNet121",
    "densenet169": "jvision.models.densenet:DenseNet169",
    "efficientnet_b0": "jvision.models.efficientnet:EfficientNetB0",
    "efficientnet_b1": "jvision.models.efficientnet:EfficientNetB1",
    "efficientnet_b2": "jvision.models.efficientnet:EfficientNetB2",
    "efficientnet_b3": "jvision.models.efficientnet:EfficientNetB3",
    "vit_b16": "jvision.models.vit:ViTB16",
    "vit_tiny": "jvision.models.vit:ViTTiny16",
    "dlib_resnet": "jvision.models.dlib_resnet:DlibResNet",
    "mmod_detector": "jvision.models.mmod_detector:MMODDetector",
    "transform_net": "jvision.models.transform_net:TransformNet",
    "clip": "jvision.models.clip:CLIP",
    "clip_tiny": "jvision.models.clip:ClipTiny",
    "clip_vit_b32": "jvision.models.clip:ClipViTB32",
    "clip_vit_b16": "jvision.models.clip:ClipViTB16",
    "clip_rn50": "jvision.models.clip:ClipRN50",
    "ssd": "jvision.models.ssd:SSD",
    "yolo": "jvision.models.yolo:YOLO",
    "overfeat": "jvision.models.overfeat:OverFeat",
    "faster_rcnn": "jvision.models.faster_rcnn:FasterRCNN",
    "fast_rcnn": "jvision.models.fast_rcnn:FastRCNN",
    "unet": "jvision.models.unet:UNet",
    "fcn": "jvision.models.fcn:FCN",
    "fcn32s": "jvision.models.fcn:FCN32s",
    "fcn16s": "jvision.models.fcn:FCN16s",
    "fcn8s": "jvision.models.fcn:FCN8s",
    "segmentation": "jvision.models.segmentation:create",
    "xray_autoencoder": "jvision.models.xray_autoencoder:XrayAutoencoder",
}


def get_model(name: str, **kwargs: Any) -> nn.Module:
  """Returns the flax module registered as ``name`` built with ``kwargs``."""
  return registry.lookup("model", MODELS, name)(**kwargs)
