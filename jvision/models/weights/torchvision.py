"""Import PyTorch state dicts with torchvision's parameter names into jvision models.

Renames (jvision modules mirror torchvision's, ``.`` -> ``_`` for list indices) and layouts:
conv ``weight`` OIHW -> ``kernel`` HWIO; linear ``weight`` [out, in] -> ``kernel`` [in, out]; batch norm
``weight``/``bias`` -> ``scale``/``bias`` in ``params`` and ``running_mean``/``running_var`` -> ``mean``/``var``
in ``batch_stats`` (``num_batches_tracked`` is dropped). VGG's first classifier layer also reorders its
inputs from torch's NCHW flatten to jvision's NHWC flatten; ViT's packed ``in_proj_weight`` [3D, D] is split
into flax's query/key/value kernels [D, heads, head_dim]. Architectures: ResNet-18..101, VGG-11..19 (with and
without BN), DenseNet-121/169, EfficientNet-B0..B3 (symmetric padding, BN epsilon 1e-5), ViT-B/16 and
ViT-Tiny/16 (torchvision's ``vit_b_16`` naming). A ResNet's ``width`` and ``cifar_stem`` are read from the
shape of ``conv1.weight``, so narrow ResNets import without arguments.

``export_torchvision`` is the inverse for ResNets: jvision variables -> a torchvision-named state dict
(``files.save_state_dict`` writes it as ``.npz``), the file a PyTorch user would hand over.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Callable, Mapping, Union

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jvision import compilation
from jvision.models import densenet, efficientnet, resnet, vgg, vit
from jvision.models.weights import assign, files

StateDict = Mapping[str, np.ndarray]


def _leaf(module: str, leaf: str, value: np.ndarray) -> tuple[str, np.ndarray]:
  """One torch leaf -> (jvision path, array in jvision layout)."""
  if leaf == "weight":
    if value.ndim == 4:
      return f"params/{module}/kernel", np.transpose(value, (2, 3, 1, 0))
    if value.ndim == 2:
      return f"params/{module}/kernel", value.T
    return f"params/{module}/scale", value
  if leaf == "bias":
    return f"params/{module}/bias", value
  if leaf == "running_mean":
    return f"batch_stats/{module}/mean", value
  if leaf == "running_var":
    return f"batch_stats/{module}/var", value
  raise KeyError(f"unknown parameter kind {leaf!r} of module {module}")


def _resnet_module(name: str) -> str:
  name = re.sub(r"^layer(\d)\.(\d+)\.", r"layer\1_\2/", name)
  return name.replace("downsample.0", "downsample_conv").replace("downsample.1", "downsample_bn")


def _vgg_modules(depth: int, batch_norm: bool) -> dict[str, str]:
  """torchvision ``features.{i}`` / ``classifier.{i}`` -> jvision module name."""
  names, index = {}, 0
  for b, num_convs in enumerate(vgg.BLOCKS[depth], start=1):
    for i in range(1, num_convs + 1):
      names[f"features.{index}"] = f"conv{b}_{i}"
      if batch_norm:
        names[f"features.{index + 1}"] = f"bn{b}_{i}"
      index += 3 if batch_norm else 2
    index += 1  # max pool
  names.update({"classifier.0": "fc1", "classifier.3": "fc2", "classifier.6": "fc3"})
  return names


def _rename(state: StateDict, module_of: Callable[[str], str], source: str) -> dict[str, np.ndarray]:
  flat, unknown = {}, []
  for name, value in state.items():
    if name.endswith("num_batches_tracked"):
      continue
    module, _, leaf = name.rpartition(".")
    target = module_of(module)
    if target is None:
      unknown.append(name)
      continue
    path, array = _leaf(target, leaf, np.asarray(value))
    flat[path] = array
  if unknown:
    raise KeyError(f"{source}: unknown torchvision parameter names: {assign.preview_names(unknown)}")
  return flat


def _resnet(architecture, state, source, model_kwargs):
  constructor = {"resnet18": resnet.ResNet18, "resnet34": resnet.ResNet34, "resnet50": resnet.ResNet50,
                 "resnet101": resnet.ResNet101}[architecture]
  kwargs = {"num_classes": state["fc.weight"].shape[0]} if "fc.weight" in state else {}
  if "conv1.weight" in state:  # [width, 3, k, k]: k = 7 for the ImageNet stem, 3 for the CIFAR stem.
    kwargs.update(width=state["conv1.weight"].shape[0], cifar_stem=state["conv1.weight"].shape[-1] == 3)
  kwargs.update(model_kwargs)
  return constructor(**kwargs), _rename(state, _resnet_module, source)


def _vgg(architecture, state, source, model_kwargs):
  depth, batch_norm = int(architecture[3:5]), architecture.endswith("_bn")
  names = _vgg_modules(depth, batch_norm)
  flat = _rename(state, names.get, source)
  kwargs = {}
  if "classifier.0.weight" in state:
    width, inputs = state["classifier.0.weight"].shape
    pool = int(round((inputs / 512) ** 0.5))
    if pool * pool * 512 != inputs:
      raise ValueError(f"{source}: classifier.0.weight has {inputs} inputs, not 512 * k * k")
    # torch flattens [512, k, k] (channel-major); jvision flattens [k, k, 512].
    kernel = flat["params/fc1/kernel"].reshape(512, pool, pool, width)
    flat["params/fc1/kernel"] = kernel.transpose(1, 2, 0, 3).reshape(inputs, width)
    kwargs.update(pool_to=pool, classifier_width=width, num_classes=state["classifier.6.weight"].shape[0])
  kwargs.update(model_kwargs)
  return vgg.VGG(depth=depth, batch_norm=batch_norm, **kwargs), flat


def _densenet_module(name: str) -> str:
  name = name.removeprefix("features.")
  name = re.sub(r"^denseblock(\d)\.denselayer(\d+)\.", r"denseblock\1_denselayer\2/", name)
  return re.sub(r"^transition(\d)\.", r"transition\1/", name)


def _densenet(architecture, state, source, model_kwargs):
  # Checkpoints from before torchvision 0.3 spell "norm.1" for "norm1" (torchvision renames them the same way).
  state = {re.sub(r"(denselayer\d+\.(?:norm|conv))\.([12])\.", r"\1\2.", k): v for k, v in state.items()}
  constructor = {"densenet121": densenet.DenseNet121, "densenet169": densenet.DenseNet169}[architecture]
  kwargs = {"num_classes": state["classifier.weight"].shape[0]} if "classifier.weight" in state else {}
  kwargs.update(model_kwargs)
  return constructor(**kwargs), _rename(state, _densenet_module, source)


def _vit_module(name: str) -> str:
  name = re.sub(r"^encoder\.layers\.(encoder_layer_\d+)\.", r"\1/", name)
  name = re.sub(r"mlp\.(0|linear_1)$", "mlp_linear_1", name)
  name = re.sub(r"mlp\.(3|linear_2)$", "mlp_linear_2", name)
  return {"encoder.ln": "encoder_ln", "heads.head": "head"}.get(name, name)


def _vit(architecture, state, source, model_kwargs):
  state = dict(state)
  missing = [k for k in ("conv_proj.weight", "class_token", "encoder.pos_embedding") if k not in state]
  if missing:
    raise KeyError(f"{source}: not a torchvision ViT state dict; missing {', '.join(missing)}")
  flat = {}
  width = state["conv_proj.weight"].shape[0]
  num_heads = model_kwargs.get("num_heads", {"vit_b16": 12, "vit_tiny": 3}[architecture])
  head_dim = width // num_heads
  flat["params/class_token"] = state.pop("class_token")
  flat["params/pos_embedding"] = state.pop("encoder.pos_embedding")
  for name in [k for k in state if k.endswith(("in_proj_weight", "in_proj_bias"))]:
    layer = re.sub(r"^encoder\.layers\.(encoder_layer_\d+)\..*", r"\1", name)
    # torch packs q, k, v as rows of [3D, D]; flax keeps [D_in, heads, head_dim] per projection.
    for part, value in zip(("query", "key", "value"), np.split(np.asarray(state.pop(name)), 3)):
      if name.endswith("weight"):
        flat[f"params/{layer}/self_attention/{part}/kernel"] = value.T.reshape(width, num_heads, head_dim)
      else:
        flat[f"params/{layer}/self_attention/{part}/bias"] = value.reshape(num_heads, head_dim)
  for name in [k for k in state if ".out_proj." in k]:
    layer = re.sub(r"^encoder\.layers\.(encoder_layer_\d+)\..*", r"\1", name)
    value = np.asarray(state.pop(name))
    if name.endswith("weight"):  # [D_out, D_in] -> [heads, head_dim, D_out]
      flat[f"params/{layer}/self_attention/out/kernel"] = value.T.reshape(num_heads, head_dim, width)
    else:
      flat[f"params/{layer}/self_attention/out/bias"] = value
  flat.update(_rename(state, _vit_module, source))
  patch = state["conv_proj.weight"].shape[-1]
  grid = int(round((flat["params/pos_embedding"].shape[1] - 1) ** 0.5))
  layers = {k.split("/")[1] for k in flat if k.startswith("params/encoder_layer_")}
  kwargs = {"patch_size": patch, "image_size": grid * patch, "width": width, "depth": len(layers),
            "num_heads": num_heads, "mlp_dim": flat["params/encoder_layer_0/mlp_linear_1/kernel"].shape[1]}
  if "heads.head.weight" in state:
    kwargs["num_classes"] = state["heads.head.weight"].shape[0]
  kwargs.update(model_kwargs)
  return vit.VisionTransformer(**kwargs), flat


def _efficientnet_modules(depth: float) -> dict[str, str]:
  """torchvision ``features.S.B.block.I.J`` -> jvision (Keras-style) names, for a depth multiplier."""
  names = {"features.0.0": "stem_conv", "features.0.1": "stem_bn", "features.8.0": "top_conv",
           "features.8.1": "top_bn", "classifier.1": "classifier"}
  for stage, (_, repeats, _, _, expand, _) in enumerate(efficientnet.STAGES, start=1):
    for block in range(int(math.ceil(depth * repeats))):
      prefix, target = f"features.{stage}.{block}.block", f"block{stage}{chr(ord('a') + block)}"
      parts = (["expand"] if expand != 1 else []) + ["dw", "se", "project"]
      for i, part in enumerate(parts):
        if part == "se":
          names[f"{prefix}.{i}.fc1"], names[f"{prefix}.{i}.fc2"] = f"{target}/se_reduce", f"{target}/se_expand"
        else:
          conv, bn = {"expand": ("expand_conv", "expand_bn"), "dw": ("dwconv", "bn"),
                      "project": ("project_conv", "project_bn")}[part]
          names[f"{prefix}.{i}.0"], names[f"{prefix}.{i}.1"] = f"{target}/{conv}", f"{target}/{bn}"
  return names


def _efficientnet(architecture, state, source, model_kwargs):
  constructor = getattr(efficientnet, f"EfficientNetB{architecture[-1]}")
  kwargs = {"bn_epsilon": 1e-5, "same_padding": False}
  if "classifier.1.weight" in state:
    kwargs["num_classes"] = state["classifier.1.weight"].shape[0]
  kwargs.update(model_kwargs)
  model = constructor(**kwargs)
  # Depthwise weights [C, 1, k, k] become [k, k, 1, C] by the OIHW -> HWIO transpose: flax's grouped kernel.
  return model, _rename(state, _efficientnet_modules(model.depth).get, source)


_CONVERTERS = {**{f"resnet{d}": _resnet for d in (18, 34, 50, 101)},
               **{f"efficientnet_b{i}": _efficientnet for i in range(4)},
               "vit_b16": _vit, "vit_tiny": _vit,
               "densenet121": _densenet, "densenet169": _densenet,
               **{f"vgg{d}{bn}": _vgg for d in (11, 13, 16, 19) for bn in ("", "_bn")}}


def import_torchvision(architecture: str, source: Union[str, os.PathLike, StateDict], *,
                       allow_missing_head: bool = False, rng=None, **model_kwargs: Any):
  """Returns ``(model, variables)`` for a torchvision state dict.

  Args:
    architecture: a jvision model name with torchvision naming ("resnet50", "vgg16_bn", ...).
    source: a ``.npz``/``.safetensors``/``.pth`` path or an in-memory ``name -> array`` dict.
    allow_missing_head: accept a state dict without the classifier (it is initialized from ``rng``).
    **model_kwargs: override the jvision constructor's fields (``num_classes``, ``dtype``, ...).

  Images need torchvision's preprocessing: ``jvision.models.preprocessing.torch``.
  """
  if architecture not in _CONVERTERS:
    raise KeyError(f"no torchvision import for {architecture!r}; known: {', '.join(sorted(_CONVERTERS))}")
  if isinstance(source, (str, os.PathLike)):
    source_name, state = str(source), files.load_state_dict(str(source))
  else:
    source_name, state = "state dict", {k.removeprefix("module."): v for k, v in source.items()}
  model, flat = _CONVERTERS[architecture](architecture, state, source_name, model_kwargs)
  size = getattr(model, "image_size", 32)
  dummy = jnp.zeros((1, size, size, 3), jnp.float32)
  # ResNet "fc", VGG "fc1".."fc3", DenseNet "classifier", ViT "head".
  head = ("params/fc", "params/classifier", "params/head")
  if allow_missing_head:
    template = compilation.init_once(model.init, jax.random.key(0) if rng is None else rng, dummy)
  else:
    template = jax.eval_shape(model.init, jax.random.key(0), dummy)
  return model, assign.assign_variables(template, flat, source_name, head if allow_missing_head else ())


def _torch_leaf(path: str, value: np.ndarray) -> tuple[str, str, np.ndarray]:
  """The inverse of ``_leaf``: jvision path -> (module, torch leaf name, array in torch layout)."""
  collection, _, rest = path.partition("/")
  module, _, leaf = rest.rpartition("/")
  if collection == "batch_stats" and leaf in ("mean", "var"):
    return module, {"mean": "running_mean", "var": "running_var"}[leaf], value
  if collection == "params" and leaf == "kernel" and value.ndim in (2, 4):
    return module, "weight", np.transpose(value, (3, 2, 0, 1)) if value.ndim == 4 else value.T
  if collection == "params" and leaf in ("scale", "bias"):
    return module, {"scale": "weight", "bias": "bias"}[leaf], value
  raise KeyError(f"no torchvision name for {path} of shape {value.shape}")


def _resnet_torch_module(module: str) -> str:
  """The inverse of ``_resnet_module``: ``layer2_0/downsample_conv`` -> ``layer2.0.downsample.0``."""
  module = module.replace("downsample_conv", "downsample.0").replace("downsample_bn", "downsample.1")
  return re.sub(r"^layer(\d)_(\d+)/", r"layer\1.\2.", module).replace("/", ".")


_EXPORTERS = {f"resnet{d}": _resnet_torch_module for d in (18, 34, 50, 101)}


def export_torchvision(architecture: str, variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Returns ``variables`` (``params`` and ``batch_stats``) as a torchvision-named ``name -> array`` dict.

  The inverse of ``import_torchvision``: ``import_torchvision(architecture, export_torchvision(
  architecture, variables))`` gives back ``variables``. BatchNorm's ``num_batches_tracked`` is not written
  (torch's loader fills it in for state dicts without it).
  """
  if architecture not in _EXPORTERS:
    raise KeyError(f"no torchvision export for {architecture!r}; known: {', '.join(sorted(_EXPORTERS))}")
  unknown = set(variables) - {"params", "batch_stats"}
  if unknown:
    raise KeyError(f"cannot export collections {sorted(unknown)}; torchvision keeps params and batch stats")
  state = {}
  flat = traverse_util.flatten_dict(jax.device_get(dict(variables)), sep="/")
  for path, value in flat.items():
    module, leaf, array = _torch_leaf(path, np.asarray(value, np.float32))
    state[f"{_EXPORTERS[architecture](module)}.{leaf}"] = np.ascontiguousarray(array)
  return state
