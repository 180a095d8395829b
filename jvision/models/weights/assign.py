"""Fill a model's variable tree from a flat ``"collection/module/.../leaf" -> array`` dict, loudly."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import jax.numpy as jnp
import numpy as np
from flax import traverse_util


def preview_names(names: Iterable[str], limit: int = 8) -> str:
  names = sorted(names)
  more = f" ... and {len(names) - limit} more" if len(names) > limit else ""
  return ", ".join(names[:limit]) + more


def assign_variables(template: Mapping[str, Any], flat: Mapping[str, Any], source: str,
                     allow_missing: Iterable[str] = ()) -> dict:
  """Returns ``template``'s tree with every leaf replaced by the array of the same path in ``flat``.

  Args:
    template: the model's variables (arrays or ``jax.ShapeDtypeStruct`` from ``jax.eval_shape``), e.g.
      ``{'params': ..., 'batch_stats': ...}``. Leaves keep their dtype.
    flat: ``"params/layer1_0/conv1/kernel" -> array`` in jvision layout.
    source: where ``flat`` came from, for error messages (a file name).
    allow_missing: path prefixes that may be absent from ``flat`` (e.g. ``"params/fc"`` when a checkpoint
      has no classifier); those leaves keep the template's values, which must then be arrays.

  Raises:
    KeyError: a name in ``flat`` that the model does not have, or a model leaf that ``flat`` lacks.
    ValueError: a shape mismatch; the message names the parameter and both shapes.
  """
  allow_missing = tuple(allow_missing)
  expected = traverse_util.flatten_dict(dict(template), sep="/")
  unknown = set(flat) - set(expected)
  if unknown:
    raise KeyError(f"{source}: unknown parameter names (not in the model): {preview_names(unknown)}")
  missing = {k for k in expected if k not in flat and not k.startswith(allow_missing)}
  if missing:
    raise KeyError(f"{source}: parameters missing from the checkpoint: {preview_names(missing)}")
  out = {}
  for name, leaf in expected.items():
    if name not in flat:
      if isinstance(leaf, (np.ndarray, jnp.ndarray)):
        out[name] = leaf
        continue
      raise ValueError(f"{source}: {name} is missing and the template holds only its shape; pass "
                       "initialized variables as the template")
    value = np.asarray(flat[name])
    if value.shape != tuple(leaf.shape):
      raise ValueError(f"{source}: shape mismatch for {name}: checkpoint has {value.shape}, model expects "
                       f"{tuple(leaf.shape)}")
    out[name] = jnp.asarray(value, dtype=leaf.dtype)
  return traverse_util.unflatten_dict(out, sep="/")
