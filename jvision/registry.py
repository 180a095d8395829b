"""Explicit name -> object lookups for models, tasks and datasets.

Each registry is a plain dict from a config name to ``"module.path:attribute"``. Nothing is registered by
import side effects: the module is imported only when its name is asked for, and an unknown name is a loud
error that lists the known ones.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping


def lookup(kind: str, table: Mapping[str, str], name: str) -> Any:
  """Imports and returns the object that ``table`` maps ``name`` to.

  Args:
    kind: what is looked up ("model", "task", ...), used in the error message.
    table: name -> "package.module:attribute".
    name: the name from the config.

  Raises:
    KeyError: ``name`` is not in ``table``; the message lists the known names.
  """
  if name not in table:
    raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
  module_name, attribute = table[name].split(":")
  return getattr(importlib.import_module(module_name), attribute)
