"""Import Keras applications checkpoints (``.keras``, full-model ``.h5``, ``.weights.h5``) into jvision.

Keras is imported only when a checkpoint is read (it ships with TensorFlow, which TFDS already needs). A
full-model file is loaded as it is; a weights-only file is poured into ``keras.applications.<Model>`` built
with ``weights=None`` first, so ``include_top``, ``classes`` and ``input_shape`` must describe that file.

Layout notes: Keras kernels are already HWIO / [in, out]. Keras's ResNet convolutions carry a bias that is
folded into the following batch norm (``mean -= bias``), and its bottleneck strides the first 1x1 conv
(``stride_on_3x3=False``) with ``epsilon=1.001e-5``. Keras's Flatten of an NHWC map matches VGG's.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision import compilation
from jvision.models import densenet, efficientnet, resnet, vgg
from jvision.models.weights import assign

KERAS_APPLICATIONS = {
    "vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "densenet121": "DenseNet121", "densenet169": "DenseNet169",
    **{f"efficientnet_b{i}": f"EfficientNetB{i}" for i in range(4)},
}


def load_keras_model(path: str, architecture: str, include_top: bool = True, classes: int = 1000,
                     input_shape: Optional[Sequence[int]] = None):
  """Loads a Keras model from ``path`` (``.keras``, full ``.h5`` or weights-only ``.h5``/``.weights.h5``)."""
  if architecture not in KERAS_APPLICATIONS:
    raise KeyError(f"no Keras import for {architecture!r}; known: {', '.join(sorted(KERAS_APPLICATIONS))}")
  if not os.path.exists(path):
    raise FileNotFoundError(f"Keras checkpoint not found: {path}")
  import keras  # pylint: disable=import-outside-toplevel
  if path.endswith(".keras") or (path.endswith(".h5") and not path.endswith(".weights.h5")
                                 and _is_full_model_h5(path)):
    return keras.saving.load_model(path, compile=False)
  if not path.endswith(".h5"):
    raise ValueError(f"unsupported Keras checkpoint {path}: expected .keras, .h5 or .weights.h5")
  application = getattr(keras.applications, KERAS_APPLICATIONS[architecture])
  return application(weights=path, include_top=include_top, classes=classes,
                     input_shape=None if input_shape is None else tuple(input_shape))


def _is_full_model_h5(path: str) -> bool:
  import h5py  # pylint: disable=import-outside-toplevel
  with h5py.File(path, "r") as f:
    return "model_config" in f.attrs


def keras_layer_weights(keras_model) -> dict[str, list[np.ndarray]]:
  """``layer name -> [arrays]`` for every Keras layer that has weights."""
  return {layer.name: [np.asarray(w) for w in layer.get_weights()]
          for layer in keras_model.layers if layer.get_weights()}


def _batch_norm(flat: dict, module: str, weights: Sequence[np.ndarray], conv_bias=None) -> None:
  if len(weights) != 4:
    raise ValueError(f"expected gamma, beta, moving mean, moving variance for {module}; got {len(weights)}")
  gamma, beta, mean, var = weights
  if conv_bias is not None:  # BN(conv(x) + b) == BN'(conv(x)) with mean' = mean - b.
    mean = mean - conv_bias
  flat[f"params/{module}/scale"], flat[f"params/{module}/bias"] = gamma, beta
  flat[f"batch_stats/{module}/mean"], flat[f"batch_stats/{module}/var"] = mean, var


def _vgg(architecture: str, layers: Mapping[str, list], model_kwargs: dict, keras_model):
  del keras_model
  flat = {}
  for name, weights in layers.items():
    if m := re.fullmatch(r"block(\d)_conv(\d)", name):
      flat[f"params/conv{m[1]}_{m[2]}/kernel"], flat[f"params/conv{m[1]}_{m[2]}/bias"] = weights
    elif name in ("fc1", "fc2", "predictions"):
      target = {"fc1": "fc1", "fc2": "fc2", "predictions": "fc3"}[name]
      flat[f"params/{target}/kernel"], flat[f"params/{target}/bias"] = weights
    else:
      raise KeyError(f"unexpected Keras layer {name!r} in a {architecture} checkpoint")
  kwargs = {}
  if "fc1" in layers:  # Keras flattens the last map as is: a 7x7 map at 224x224, 1x1 at 32x32.
    kwargs["pool_to"] = math.isqrt(layers["fc1"][0].shape[0] // 512)
    kwargs["classifier_width"] = layers["fc1"][0].shape[1]
  if "predictions" in layers:
    kwargs["num_classes"] = layers["predictions"][0].shape[1]
  kwargs.update(model_kwargs)
  depth = int(architecture[3:])
  return vgg.VGG(depth=depth, **kwargs), flat


def _resnet(architecture: str, layers: Mapping[str, list], model_kwargs: dict, keras_model):
  del keras_model
  flat = {}
  for name, weights in layers.items():
    if name.endswith("_bn") or name == "predictions":
      continue
    if name == "conv1_conv":
      target, bn = "conv1", "bn1"
    elif m := re.fullmatch(r"conv(\d)_block(\d+)_(\d)_conv", name):
      block = f"layer{int(m[1]) - 1}_{int(m[2]) - 1}"
      target, bn = ((f"{block}/downsample_conv", f"{block}/downsample_bn") if m[3] == "0"
                    else (f"{block}/conv{m[3]}", f"{block}/bn{m[3]}"))
    else:
      raise KeyError(f"unexpected Keras layer {name!r} in a {architecture} checkpoint")
    kernel, bias = weights
    flat[f"params/{target}/kernel"] = kernel
    _batch_norm(flat, bn, layers[name[:-len("conv")] + "bn"], conv_bias=bias)
  kwargs = {"stride_on_3x3": False, "bn_epsilon": 1.001e-5}
  if "predictions" in layers:
    flat["params/fc/kernel"], flat["params/fc/bias"] = layers["predictions"]
    kwargs["num_classes"] = layers["predictions"][0].shape[1]
  kwargs.update(model_kwargs)
  constructor = {"resnet50": resnet.ResNet50, "resnet101": resnet.ResNet101}[architecture]
  return constructor(**kwargs), flat


def _densenet(architecture: str, layers: Mapping[str, list], model_kwargs: dict, keras_model):
  del keras_model
  flat = {}
  for name, weights in layers.items():
    if name == "conv1_conv":
      flat["params/conv0/kernel"], = weights
    elif name in ("conv1_bn", "bn"):
      _batch_norm(flat, {"conv1_bn": "norm0", "bn": "norm5"}[name], weights)
    elif name == "predictions":
      flat["params/classifier/kernel"], flat["params/classifier/bias"] = weights
    elif m := re.fullmatch(r"conv(\d)_block(\d+)_(0_bn|1_conv|1_bn|2_conv)", name):
      layer = f"denseblock{int(m[1]) - 1}_denselayer{m[2]}"
      target = {"0_bn": "norm1", "1_conv": "conv1", "1_bn": "norm2", "2_conv": "conv2"}[m[3]]
      if target.startswith("conv"):
        flat[f"params/{layer}/{target}/kernel"], = weights
      else:
        _batch_norm(flat, f"{layer}/{target}", weights)
    elif m := re.fullmatch(r"pool(\d)_(bn|conv)", name):
      if m[2] == "conv":
        flat[f"params/transition{int(m[1]) - 1}/conv/kernel"], = weights
      else:
        _batch_norm(flat, f"transition{int(m[1]) - 1}/norm", weights)
    else:
      raise KeyError(f"unexpected Keras layer {name!r} in a {architecture} checkpoint")
  kwargs = {"bn_epsilon": 1.001e-5}
  if "predictions" in layers:
    kwargs["num_classes"] = layers["predictions"][0].shape[1]
  kwargs.update(model_kwargs)
  constructor = {"densenet121": densenet.DenseNet121, "densenet169": densenet.DenseNet169}[architecture]
  return constructor(**kwargs), flat


def _input_affine(keras_model) -> tuple[np.ndarray, np.ndarray]:
  """Keras EfficientNet's Rescaling/Normalization layers before the stem as one per-channel x * a + b."""
  a, b = np.ones(3), np.zeros(3)
  for layer in keras_model.layers:
    kind = type(layer).__name__
    if kind == "Rescaling":
      scale, offset = np.asarray(layer.scale, np.float64), np.asarray(layer.offset, np.float64)
      a, b = a * scale, b * scale + offset
    elif kind == "Normalization":
      mean, variance = (np.asarray(w, np.float64).reshape(-1) for w in layer.get_weights()[:2])
      inv_std = 1.0 / np.maximum(np.sqrt(variance), 1e-7)  # Keras: (x - mean) / max(sqrt(var), epsilon)
      a, b = a * inv_std, (b - mean) * inv_std
    elif layer.name.startswith("stem_"):
      break
  return a, b


def _efficientnet(architecture: str, layers: Mapping[str, list], model_kwargs: dict, keras_model):
  flat = {}
  for name, weights in layers.items():
    if name == "normalization":
      continue
    m = re.fullmatch(r"(stem|top|block\d[a-z])_(conv|bn|expand_conv|expand_bn|dwconv|project_conv|project_bn|"
                     r"se_reduce|se_expand)", name)
    if name == "predictions":
      flat["params/classifier/kernel"], flat["params/classifier/bias"] = weights
    elif m is None:
      raise KeyError(f"unexpected Keras layer {name!r} in a {architecture} checkpoint")
    else:
      module = f"{m[1]}_{m[2]}" if m[1] in ("stem", "top") else f"{m[1]}/{m[2]}"
      if m[2].endswith("bn"):
        _batch_norm(flat, module, weights)
      elif m[2] == "dwconv":  # Keras [k, k, C, 1] -> flax grouped conv [k, k, 1, C]
        flat[f"params/{module}/kernel"] = np.swapaxes(weights[0], 2, 3)
      elif m[2].startswith("se_"):
        flat[f"params/{module}/kernel"], flat[f"params/{module}/bias"] = weights
      else:
        flat[f"params/{module}/kernel"], = weights
  scale, offset = _input_affine(keras_model)
  kwargs = {"input_scale": tuple(float(v) for v in scale), "input_offset": tuple(float(v) for v in offset)}
  if "predictions" in layers:
    kwargs["num_classes"] = layers["predictions"][0].shape[1]
  kwargs.update(model_kwargs)
  constructor = getattr(efficientnet, f"EfficientNetB{architecture[-1]}")
  return constructor(**kwargs), flat


_CONVERTERS: dict[str, Callable] = {"vgg16": _vgg, "vgg19": _vgg, "resnet50": _resnet, "resnet101": _resnet,
                                    "densenet121": _densenet, "densenet169": _densenet,
                                    **{f"efficientnet_b{i}": _efficientnet for i in range(4)}}

# Modules a checkpoint without classifier (include_top=False) leaves at their random initialization.
_HEADS = {"vgg16": ("params/fc",), "vgg19": ("params/fc",), "resnet50": ("params/fc",),
          "resnet101": ("params/fc",), "densenet121": ("params/classifier",),
          "densenet169": ("params/classifier",),
          **{f"efficientnet_b{i}": ("params/classifier",) for i in range(4)}}


def import_keras(architecture: str, source: Any, *, include_top: bool = True, classes: int = 1000,
                 input_shape: Optional[Sequence[int]] = None, rng: Optional[jax.Array] = None,
                 **model_kwargs: Any):
  """Returns ``(model, variables)``: the jvision twin of a Keras applications model and its weights.

  Args:
    architecture: one of ``KERAS_APPLICATIONS`` ("vgg16", "resnet50", ...).
    source: a checkpoint path or an already-built ``keras.Model``.
    include_top, classes, input_shape: how the Keras model of a weights-only file was built.
    rng: initializes the classifier when the checkpoint has none (default ``jax.random.key(0)``).
    **model_kwargs: override the jvision constructor's fields (e.g. ``num_classes``, ``dtype``).

  Images fed to the returned model need the Keras model's preprocessing (``jvision.models.preprocessing``:
  ``caffe`` for VGG and ResNet, ``torch`` for DenseNet; EfficientNet takes RGB in [0, 255] as its Keras
  twin does, its Rescaling and Normalization layers being folded into ``input_scale``/``input_offset``).
  """
  keras_model = (load_keras_model(source, architecture, include_top, classes, input_shape)
                 if isinstance(source, (str, os.PathLike)) else source)
  if architecture not in _CONVERTERS:
    raise KeyError(f"no Keras import for {architecture!r}; known: {', '.join(sorted(_CONVERTERS))}")
  layers = keras_layer_weights(keras_model)
  model, flat = _CONVERTERS[architecture](architecture, layers, dict(model_kwargs), keras_model)
  dummy = jnp.zeros((1, 32, 32, 3), jnp.float32)
  has_head = any(k.startswith(_HEADS[architecture]) for k in flat)
  if has_head:
    template = jax.eval_shape(model.init, jax.random.key(0), dummy)
    allow_missing = ()
  else:
    template = compilation.init_once(model.init, jax.random.key(0) if rng is None else rng, dummy)
    allow_missing = _HEADS[architecture]
  source_name = str(source) if isinstance(source, (str, os.PathLike)) else f"Keras model {keras_model.name}"
  return model, assign.assign_variables(template, flat, source_name, allow_missing)
