"""Rebuild a trained model from a workdir: its saved ``config.json`` plus a checkpoint, without the data.

    run = load_run("runs/xray_cnn")
    logits = run.model.apply(run.variables, images, train=False)

``jvision.evaluate`` restores into a full training ``Experiment`` (mesh, optimizer, data sources); tools that
only need the model's function (explanations, ensembles) use this instead: the model and task named by the
saved config, and the checkpoint's ``params`` and non-parameter collections as numpy arrays.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional

import jax.numpy as jnp
import ml_collections

from jvision import checkpointing, models, tasks


@dataclasses.dataclass
class Run:
  """A trained model: ``model.apply(variables, images, train=False)``; ``task`` preprocesses and scores."""
  workdir: str
  step: int
  config: ml_collections.ConfigDict
  model: Any
  task: Any
  variables: dict


def checkpoint_steps(workdir: str) -> list[int]:
  """The steps saved under ``workdir/checkpoints``, ascending (empty when there are none)."""
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def resolve_step(workdir: str, step: Optional[int] = None) -> int:
  """``step`` if ``workdir`` saved it, the latest saved step if ``step`` is None; else FileNotFoundError."""
  steps = checkpoint_steps(workdir)
  if not steps:
    raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')!r}")
  if step is None:
    return steps[-1]
  if step not in steps:
    raise FileNotFoundError(f"no checkpoint at step {step} in {workdir!r}; saved steps: {steps}")
  return step


def load_run(workdir: str, step: Optional[int] = None) -> Run:
  """The model, task and variables of ``workdir`` at checkpoint ``step`` (default: the latest)."""
  config_path = os.path.join(workdir, "config.json")
  if not os.path.isfile(config_path):
    raise FileNotFoundError(f"{config_path!r} does not exist: is {workdir!r} a jvision.train workdir?")
  with open(config_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  step = resolve_step(workdir, step)
  state = checkpointing.load_state(os.path.join(workdir, "checkpoints"), step)
  variables = {"params": state["params"], **(state.get("model_state") or {})}
  task = tasks.get_task(config.task.name, **{k: v for k, v in config.task.items() if k != "name"})
  model_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.model.items() if k != "name"}
  model = models.get_model(config.model.name, dtype=jnp.dtype(config.get("dtype", "float32")), **model_kwargs)
  return Run(workdir=workdir, step=step, config=config, model=model, task=task, variables=variables)
