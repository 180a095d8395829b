"""Input conventions of each weight source, as explicit functions of RGB images in [0, 255], ``[..., H, W, 3]``.

- ``caffe``: RGB -> BGR, then subtract the ImageNet BGR mean; no scaling. Keras VGG16/19, ResNet50/101.
- ``torch``: x/255, subtract the ImageNet mean and divide by its std, per RGB channel. torchvision models,
  Keras DenseNet.
- ``tf``: x/127.5 - 1. Keras MobileNet/Inception family.
- ``identity``: nothing; Keras EfficientNet normalizes inside the model.
"""

from __future__ import annotations

import jax.numpy as jnp

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _check(images):
  if images.shape[-1] != 3:
    raise ValueError(f"preprocessing expects RGB images [..., H, W, 3]; got shape {tuple(images.shape)}")
  return jnp.asarray(images, jnp.float32)


def caffe(images: jnp.ndarray) -> jnp.ndarray:
  """RGB [0, 255] -> BGR minus the ImageNet BGR mean (Keras ``mode='caffe'``)."""
  return _check(images)[..., ::-1] - jnp.asarray(CAFFE_MEAN_BGR)


def torch(images: jnp.ndarray) -> jnp.ndarray:
  """RGB [0, 255] -> (x/255 - mean) / std with ImageNet RGB statistics (torchvision, Keras ``mode='torch'``)."""
  return (_check(images) / 255.0 - jnp.asarray(IMAGENET_MEAN_RGB)) / jnp.asarray(IMAGENET_STD_RGB)


def tf(images: jnp.ndarray) -> jnp.ndarray:
  """RGB [0, 255] -> [-1, 1] (Keras ``mode='tf'``)."""
  return _check(images) / 127.5 - 1.0


def identity(images: jnp.ndarray) -> jnp.ndarray:
  """RGB [0, 255] unchanged, as float32 (models that normalize inside, e.g. Keras EfficientNet)."""
  return _check(images)


# Which function matches which source, for callers that pick by name.
BY_SOURCE = {"keras_vgg": caffe, "keras_resnet": caffe, "keras_densenet": torch,
             "keras_efficientnet": identity, "torchvision": torch}
