"""Experiment configs: load a ``get_config()`` file, apply command-line overrides, validate early.

An experiment is one Python file whose ``get_config()`` returns an ``ml_collections.ConfigDict``
(big_vision's convention). Overrides use the ``--config.a.b=value`` syntax of ml_collections' config flags;
unlike those, an unknown key or a value of the wrong type is an error that names the key and lists the valid
keys at that level, before anything is built.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import types
from typing import Any, Iterable

import ml_collections

# Settings every training config must have, with their types.
REQUIRED = {
    "seed": int,
    "batch_size": int,
    "total_steps": int,
    "model.name": str,
    "task.name": str,
    "data.name": str,
    "optimizer.name": str,
    "optimizer.learning_rate": float,
    "schedule.name": str,
}
DTYPES = ("float32", "bfloat16", "float16")


# Trainer settings every config has, added with these defaults where a config file leaves them out (so that
# ``--config.param_sharding=fsdp`` works on any experiment).
DEFAULTS = {
    "grad_accum_steps": 1,  # Micro-batches per step.
    "model_axis_size": 1,  # Devices along the mesh's "model" axis (tensor parallelism).
    "param_sharding": "replicated",  # Or "fsdp": parameters and optimizer state split over "data".
    "fsdp_min_size": 2 ** 14,  # Arrays with fewer elements stay replicated under FSDP.
}


class ConfigError(ValueError):
  """A config that cannot be used; the message names the key."""


def _load_module(path: str, name: str) -> types.ModuleType:
  if not os.path.isfile(path):
    raise FileNotFoundError(f"config file {path!r} does not exist")
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def sibling_experiment(file: str, name: str) -> types.ModuleType:
  """The experiment file ``name`` (e.g. ``"xray_cnn.py"``) next to ``file`` (a config's ``__file__``), loaded
  as a module: for a config that builds on another one (``sibling_experiment(__file__, "xray_cnn.py")
  .get_config()`` gives the base config, unlocked and without the trainer defaults)."""
  return _load_module(os.path.join(os.path.dirname(os.path.abspath(file)), name), os.path.splitext(name)[0])


def load_config(path: str, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
  """Loads ``path``'s ``get_config()``, applies ``key=value`` overrides, validates, and locks it."""
  module = _load_module(path, "jvision_experiment_config")
  if not hasattr(module, "get_config"):
    raise ConfigError(f"config file {path!r} has no get_config() function")
  config = module.get_config()
  for key, value in DEFAULTS.items():
    if key not in config:
      config[key] = value
  for override in overrides:
    key, sep, value = override.partition("=")
    if not sep:
      raise ConfigError(f"override {override!r} is not of the form key=value")
    set_value(config, key.removeprefix("--").removeprefix("config."), value)
  validate(config)
  config.lock()
  return config


def _parse(key: str, text: str, current: Any) -> Any:
  """Converts ``text`` to the type of the ``current`` value of ``key``."""
  if isinstance(current, bool):
    if text.lower() in ("true", "1", "yes"):
      return True
    if text.lower() in ("false", "0", "no"):
      return False
    raise ConfigError(f"config key {key!r} is a bool; got {text!r} (use true or false)")
  if isinstance(current, (int, float)):
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        isinstance(current, int) and not float(value).is_integer()):
      raise ConfigError(f"config key {key!r} is {type(current).__name__}; got {text!r}")
    return type(current)(value)
  if isinstance(current, str):
    return text
  if isinstance(current, (tuple, list)) or current is None:
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as e:
      raise ConfigError(f"config key {key!r}: cannot parse {text!r} as a Python literal ({e})") from None
    if current is not None and not isinstance(value, (tuple, list)):
      raise ConfigError(f"config key {key!r} is a sequence; got {text!r}")
    return type(current)(value) if current is not None else value
  raise ConfigError(f"config key {key!r} holds a {type(current).__name__}, which cannot be overridden")


def set_value(config: ml_collections.ConfigDict, key: str, text: str) -> None:
  """Sets dotted ``key`` of ``config`` from its text form; the key must already exist."""
  node = config
  parts = key.split(".")
  for depth, part in enumerate(parts):
    where = ".".join(parts[:depth]) or "the top level"
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      valid = ", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict) else "none"
      raise ConfigError(f"unknown config key {key!r}: {where} has no {part!r}; valid keys there: {valid}")
    if depth < len(parts) - 1:
      node = node[part]
  node[parts[-1]] = _parse(key, text, node[parts[-1]])


def get_path(config: ml_collections.ConfigDict, key: str) -> Any:
  node = config
  for part in key.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ConfigError(f"config is missing required key {key!r}")
    node = node[part]
  return node


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the settings the trainer relies on; raises ``ConfigError`` naming the first bad key."""
  for key, kind in REQUIRED.items():
    value = get_path(config, key)
    ok = isinstance(value, kind) and not isinstance(value, bool) or (kind is float and isinstance(value, int))
    if not ok:
      raise ConfigError(f"config key {key!r} must be {kind.__name__}, got {value!r}")
  for key in ("batch_size", "total_steps"):
    if get_path(config, key) <= 0:
      raise ConfigError(f"config key {key!r} must be positive, got {get_path(config, key)}")
  from jvision import sharding  # pylint: disable=import-outside-toplevel
  if config.get("param_sharding", DEFAULTS["param_sharding"]) not in sharding.STRATEGIES:
    raise ConfigError(f"config key 'param_sharding' must be one of {', '.join(sharding.STRATEGIES)}, got "
                      f"{config.param_sharding!r}")
  if config.get("model_axis_size", 1) < 1:
    raise ConfigError(f"config key 'model_axis_size' must be >= 1, got {config.model_axis_size}")
  if config.get("dtype", "float32") not in DTYPES:
    raise ConfigError(f"config key 'dtype' must be one of {', '.join(DTYPES)}, got {config.dtype!r}")
  from jvision import models, optim, tasks  # Imported here: names only, nothing heavy.
  checks = (("model.name", models.MODELS), ("task.name", tasks.TASKS),
            ("optimizer.name", optim.OPTIMIZERS), ("schedule.name", optim.SCHEDULES))
  for key, known in checks:
    if get_path(config, key) not in known:
      raise ConfigError(f"config key {key!r}: unknown {get_path(config, key)!r}; known: "
                        f"{', '.join(sorted(known))}")
