"""Fine-tuning as taught in d2l.ai's computer-vision chapter (Section 14.2, "Fine-Tuning"): start from imported
weights, replace the classifier with a fresh one for the new classes, then train the new head at the full
learning rate while the backbone is frozen or learns at a lower rate.

``replace_head`` swaps the head; ``label_params`` names every parameter by its path; ``finetune_optimizer``
builds the ``optax.multi_transform`` that routes the head and the backbone to different optimizers.
Freezing stops the gradient updates only: call a frozen batch-norm backbone with ``train=False`` (or drop the
new ``batch_stats``) if its statistics must not move either.

The trainer does the whole recipe from a config section (``experiments/finetune_digits.py``):
``finetune.weights`` names a torchvision-named state dict (``import_pretrained`` imports it and replaces the
head) and ``finetune.backbone_lr_multiplier`` scales the backbone's learning rate (``scaled_backbone_optimizer``;
0 freezes it, 1 is plain training). ``finetune.checkpoint`` instead starts from another jvision run's latest
checkpoint (``import_checkpoint``), e.g. Mask R-CNN from a trained Faster R-CNN, its new modules named in
``finetune.new_modules`` keeping their fresh initialization.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import traverse_util

from jvision import checkpointing, compilation, restore
from jvision.models.weights import assign, torchvision


def head_name(model: nn.Module) -> str:
  """The top-level parameter name of ``model``'s classifier (the ``head_name`` of jvision models)."""
  name = getattr(model, "head_name", None)
  if name is None:
    raise ValueError(f"{type(model).__name__} declares no head_name; pass head=... explicitly")
  return name


def replace_head(model: nn.Module, variables: Any, num_classes: int, rng: jax.Array,
                 sample_images: Optional[jnp.ndarray] = None, head: Optional[str] = None):
  """Returns ``(model with num_classes, variables)``: every variable kept but the head's, freshly initialized.

  Args:
    model, variables: the pretrained model and its variables (``params`` and, if any, ``batch_stats``).
    num_classes: classes of the new task.
    rng: initializes the new head.
    sample_images: an input to initialize with (default ``[1, 32, 32, 3]`` zeros; ViTs need their size).
    head: top-level module of the classifier; defaults to ``model.head_name``.
  """
  head = head or head_name(model)
  new_model = model.clone(num_classes=num_classes)
  if sample_images is None:
    sample_images = jnp.zeros((1, 32, 32, 3), jnp.float32)
  fresh = compilation.init_once(new_model.init, rng, sample_images)
  if head not in fresh["params"]:
    raise KeyError(f"no head {head!r} in {type(model).__name__}; top-level modules: "
                   f"{', '.join(sorted(fresh['params']))}")
  old = traverse_util.flatten_dict(dict(variables), sep="/")
  out = {}
  for path, leaf in traverse_util.flatten_dict(dict(fresh), sep="/").items():
    if path.startswith(f"params/{head}/"):
      out[path] = leaf
    elif path not in old:
      raise KeyError(f"pretrained variables lack {path}")
    elif old[path].shape != leaf.shape:
      raise ValueError(f"pretrained {path} has shape {old[path].shape}; the model expects {leaf.shape}")
    else:
      out[path] = old[path]
  return new_model, traverse_util.unflatten_dict(out, sep="/")


def label_params(params: Any, rules: Sequence[tuple[str, str]], default: str) -> Any:
  """A tree like ``params`` whose leaves are labels: the first ``(regex, label)`` whose regex matches the
  leaf's path ``"module/.../leaf"`` from its start, else ``default``."""
  compiled = [(re.compile(pattern), label) for pattern, label in rules]

  def label(path, _):
    name = "/".join(str(getattr(k, "key", k)) for k in path)
    return next((lab for pattern, lab in compiled if pattern.match(name)), default)

  return jax.tree_util.tree_map_with_path(label, params)


def finetune_optimizer(params: Any, head_optimizer: optax.GradientTransformation,
                       backbone_optimizer: Optional[optax.GradientTransformation] = None,
                       head: Sequence[str] = ("fc",)) -> optax.GradientTransformation:
  """``optax.multi_transform`` with ``head_optimizer`` on the modules named in ``head`` and
  ``backbone_optimizer`` on the rest; ``None`` freezes the backbone (its updates are zero).

  d2l's recipe: ``finetune_optimizer(params, optax.sgd(10 * lr), optax.sgd(lr), head=[model.head_name])``.
  """
  labels = label_params(params, [(f"{re.escape(h)}/", "head") for h in head], "backbone")
  if "head" not in jax.tree.leaves(labels):
    raise ValueError(f"no parameter belongs to head {list(head)}; top-level modules: "
                     f"{', '.join(sorted(params))}")
  return optax.multi_transform(
      {"head": head_optimizer, "backbone": backbone_optimizer or optax.set_to_zero()}, labels)


def scaled_backbone_optimizer(make_optimizer: Callable[[optax.Schedule], optax.GradientTransformation],
                              schedule: optax.Schedule, backbone_lr_multiplier: float, params: Any,
                              head: Sequence[str]) -> optax.GradientTransformation:
  """The head trains with ``make_optimizer(schedule)``, the backbone with the same optimizer at
  ``backbone_lr_multiplier`` times the rate (0: frozen). ``params`` may be shapes (``jax.eval_shape``)."""
  if backbone_lr_multiplier < 0:
    raise ValueError(f"backbone_lr_multiplier must be >= 0, got {backbone_lr_multiplier}")
  backbone = None
  if backbone_lr_multiplier > 0:
    backbone = make_optimizer(lambda step: backbone_lr_multiplier * schedule(step))
  return finetune_optimizer(params, make_optimizer(schedule), backbone, head=head)


def import_pretrained(architecture: str, path: str, model: nn.Module, template: Any, rng: jax.Array,
                      sample_images: jnp.ndarray) -> dict:
  """A user's downloaded torchvision-named state dict -> ``model``'s variables, with a fresh head.

  Imports ``path`` as ``architecture`` (its own classifier included), replaces the head by one for
  ``model.num_classes`` initialized from ``rng``, and fills ``template`` (``model``'s variable shapes) from
  the result, so a backbone that does not match ``model`` fails here with the parameter's name.
  """
  imported_model, variables = torchvision.import_torchvision(architecture, path)
  _, variables = replace_head(imported_model, variables, model.num_classes, rng, sample_images,
                              head=head_name(model))
  return assign.assign_variables(template, traverse_util.flatten_dict(dict(variables), sep="/"), path)


def import_checkpoint(workdir: str, variables: Any, new_modules: Sequence[str] = ()) -> dict:
  """``variables`` filled from the latest checkpoint of the ``jvision.train`` run in ``workdir``.

  Every leaf of ``variables`` (``params`` and the other collections, e.g. ``batch_stats``) takes the value of
  the same path in the checkpoint; leaves under a top-level module in ``new_modules`` (e.g. ``"mask_branch"``
  for Mask R-CNN started from a Faster R-CNN run) keep their values from ``variables``, which must then be
  initialized arrays. A leaf missing or shaped differently, or a checkpoint variable the model lacks, raises
  with its name. The optimizer state and the step are not imported.
  """
  directory = os.path.join(workdir, "checkpoints")
  steps = restore.checkpoint_steps(workdir)
  if not steps:
    raise FileNotFoundError(f"no checkpoint in {directory!r} to fine-tune from")
  state = checkpointing.load_state(directory, steps[-1])
  flat = traverse_util.flatten_dict({"params": state["params"], **(state.get("model_state") or {})}, sep="/")
  new = [f"{collection}/{module}/" for collection in variables for module in new_modules]
  return assign.assign_variables(variables, flat, f"{workdir} step {steps[-1]}", allow_missing=new)
