"""Import OpenAI CLIP checkpoints (``clip.load``'s state dicts: ViT-B/32, ViT-B/16, ViT-L/14, RN50, ...).

The architecture is read from the state dict's shapes as OpenAI's ``build_model`` does (ViT when
``visual.proj`` exists, else ModifiedResNet), and names are mapped onto ``jvision.models.clip.CLIP``:
torch ``[out, in]`` linear weights and ``[O, I, kh, kw]`` convolutions are transposed, packed attention
``in_proj_weight [3D, D]`` is split into flax's query/key/value ``[D, heads, head_dim]``, batch-norm running
statistics go to ``batch_stats``. ``logit_bias`` (SigLIP only) keeps its initial value.

    model, variables = import_openai_clip("ViT-B-32.npz")  # or .pth / .safetensors / a name -> array dict

Images need ``jvision.data.clip_preprocessing.clip_preprocess``; texts the CLIP BPE tokenizer.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping, Union

import jax
import jax.numpy as jnp
import numpy as np

from jvision import compilation
from jvision.models import clip
from jvision.models.weights import assign, files

StateDict = Mapping[str, Any]
_IGNORED = ("input_resolution", "context_length", "vocab_size")


def architecture_from_state_dict(state: StateDict) -> dict[str, Any]:
  """``CLIP`` constructor arguments implied by the state dict's shapes."""
  width = state["ln_final.weight"].shape[0]
  text_layers = len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})
  kwargs = dict(embed_dim=state["text_projection"].shape[1], context_length=state["positional_embedding"].shape[0],
                vocab_size=state["token_embedding.weight"].shape[0], text_width=width, text_heads=width // 64,
                text_layers=text_layers)
  if "visual.proj" in state:
    vision_width, patch = state["visual.conv1.weight"].shape[0], state["visual.conv1.weight"].shape[-1]
    grid = int(round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5))
    layers = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    kwargs.update(vision="vit", vision_width=vision_width, vision_patch_size=patch, image_size=grid * patch,
                  vision_layers=layers, vision_heads=vision_width // 64)
  else:
    layers = tuple(len({k.split(".")[2] for k in state if k.startswith(f"visual.layer{b}.")}) for b in (1, 2, 3, 4))
    vision_width = state["visual.layer1.0.conv1.weight"].shape[0]
    grid = int(round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5))
    kwargs.update(vision="resnet", vision_width=vision_width, vision_layers=layers, image_size=grid * 32,
                  vision_heads=vision_width * 32 // 64)
  return kwargs


def _module_path(name: str) -> str:
  """Torch module path (without the leaf) -> jvision module path."""
  name = re.sub(r"resblocks\.(\d+)", r"resblocks_\1", name)
  name = re.sub(r"layer(\d)\.(\d+)", r"layer\1_\2", name)
  name = name.replace("downsample.0", "downsample_conv").replace("downsample.1", "downsample_bn")
  name = name.replace("mlp.", "")
  return name.replace(".", "/")


def _convert(state: StateDict, heads: dict[str, int]) -> dict[str, np.ndarray]:
  """Torch names -> jvision ``collection/module/leaf`` arrays. ``heads``: tower prefix -> attention heads."""
  flat = {}
  for name, value in state.items():
    if name in _IGNORED or name.endswith("num_batches_tracked"):
      continue
    value = np.asarray(value)
    module, _, leaf = name.rpartition(".")
    if not module:  # Top-level parameters: positional_embedding, text_projection, logit_scale.
      flat[f"params/{name}"] = value
      continue
    if leaf in ("class_embedding", "positional_embedding", "proj"):
      flat[f"params/{_module_path(name)}"] = value
      continue
    path = _module_path(module)
    tower = "visual" if name.startswith("visual.") else "text"
    if leaf in ("in_proj_weight", "in_proj_bias"):
      width = value.shape[-1] if leaf == "in_proj_weight" else value.shape[0] // 3
      num_heads = heads[tower]
      for part, chunk in zip(("query", "key", "value"), np.split(value, 3)):
        if leaf == "in_proj_weight":
          flat[f"params/{path}/{part}/kernel"] = chunk.T.reshape(width, num_heads, width // num_heads)
        else:
          flat[f"params/{path}/{part}/bias"] = chunk.reshape(num_heads, width // num_heads)
    elif module.endswith("attn.out_proj"):
      path = path.removesuffix("/out_proj") + "/out"
      width = value.shape[0]
      num_heads = heads[tower]
      if leaf == "weight":
        flat[f"params/{path}/kernel"] = value.T.reshape(num_heads, width // num_heads, width)
      else:
        flat[f"params/{path}/bias"] = value.reshape(width)
    elif leaf in ("running_mean", "running_var"):
      flat[f"batch_stats/{path}/{'mean' if leaf == 'running_mean' else 'var'}"] = value
    elif leaf == "weight" and value.ndim == 4:
      flat[f"params/{path}/kernel"] = value.transpose(2, 3, 1, 0)
    elif leaf == "weight" and value.ndim == 2:
      key = "embedding" if module == "token_embedding" else "kernel"
      flat[f"params/{path}/{key}"] = value if key == "embedding" else value.T
    elif leaf == "weight":  # LayerNorm / BatchNorm.
      flat[f"params/{path}/scale"] = value
    elif leaf == "bias":
      flat[f"params/{path}/bias"] = value
    else:
      raise KeyError(f"unexpected OpenAI CLIP parameter {name!r}")
  return flat


def import_openai_clip(source: Union[str, os.PathLike, StateDict], **model_kwargs: Any):
  """Returns ``(model, variables)`` for an OpenAI CLIP state dict (path or ``name -> array`` mapping).

  ``model_kwargs`` override constructor fields (``dtype``, ...). A name the model does not have, a missing
  one, or a shape mismatch is an error naming the parameter.
  """
  if isinstance(source, (str, os.PathLike)):
    source_name, state = str(source), files.load_state_dict(str(source))
  else:
    source_name, state = "state dict", dict(source)
  if "token_embedding.weight" not in state:
    raise KeyError(f"{source_name}: not an OpenAI CLIP state dict (no 'token_embedding.weight')")
  kwargs = {**architecture_from_state_dict(state), **model_kwargs}
  model = clip.CLIP(**kwargs)
  flat = _convert(state, {"visual": kwargs["vision_heads"], "text": kwargs["text_heads"]})
  images = jnp.zeros((1, model.image_size, model.image_size, 3), jnp.float32)
  template = compilation.init_once(model.init, jax.random.key(0), images)  # Real arrays: logit_bias keeps its init.
  return model, assign.assign_variables(template, flat, source_name, allow_missing=("params/logit_bias",))
