"""How arrays are laid out on the device mesh: batches, parameters and optimizer state.

The trainer's mesh has two axes, ``("data", "model")`` (``create_mesh``); with ``model_axis_size=1`` (the
default) it is plain data parallelism. Batches are split along ``data`` and replicated along ``model``.
Parameters and optimizer state follow ``state_shardings``:

* ``"replicated"`` (default): every device holds everything; XLA all-reduces the gradients.
* ``"fsdp"`` (fully sharded data parallelism, ZeRO stage 3): each array of at least ``fsdp_min_size``
  elements is split along its largest dimension that the ``data`` axis divides. XLA gathers a layer's weights
  where the step needs them and reduce-scatters the gradients, so parameter and optimizer memory per device
  falls by the number of devices.
* Tensor parallelism: a module marks a kernel with ``flax.linen.with_partitioning(init, names)``, e.g.
  ``(None, "model")`` for a column-split dense layer and ``("model", None)`` for the row-split one after it
  (Megatron-LM, Shoeybi et al. 2019); ``annotated_specs`` reads those names from the boxed ``init`` output and
  the array (and its optimizer moments, matched by parameter path) is split over the ``model`` axis. FSDP
  then picks another dimension for ``data``.

None of this changes the math: the tests train the same steps under each layout and compare the parameters.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np
from flax import linen as nn
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

STRATEGIES = ("replicated", "fsdp")
AXES = ("data", "model")


def create_mesh(devices: Optional[Sequence[Any]] = None, model_axis_size: int = 1) -> Mesh:
  """A ``("data", "model")`` mesh over ``devices`` (default: all devices of all processes)."""
  devices = list(jax.devices() if devices is None else devices)
  if model_axis_size < 1 or len(devices) % model_axis_size:
    raise ValueError(f"model_axis_size must be a positive divisor of the {len(devices)} devices, "
                     f"got {model_axis_size}")
  return Mesh(np.asarray(devices).reshape(-1, model_axis_size), AXES)


def _key_name(key) -> str:
  for attribute in ("key", "name", "idx"):
    if hasattr(key, attribute):
      return str(getattr(key, attribute))
  return str(key)


def path_names(path) -> tuple[str, ...]:
  """A pytree path (from ``jax.tree_util.tree_flatten_with_path``) as a tuple of names."""
  return tuple(_key_name(k) for k in path)


def annotated_specs(boxed_params: Any) -> dict[tuple[str, ...], tuple]:
  """Parameter path -> mesh axis names of every ``nn.with_partitioning``-annotated array in ``boxed_params``.

  ``boxed_params`` is the ``params`` collection as ``model.init`` returns it, before ``nn.meta.unbox``.
  """
  flat, _ = jax.tree_util.tree_flatten_with_path(boxed_params, is_leaf=lambda x: isinstance(x, nn.Partitioned))
  specs = {}
  for path, leaf in flat:
    if isinstance(leaf, nn.Partitioned):
      unknown = [name for name in leaf.names if name is not None and name not in AXES]
      if unknown:
        raise ValueError(f"parameter {'/'.join(path_names(path))} is annotated with {unknown}; mesh axes are "
                         f"{AXES}")
      specs[path_names(path)] = tuple(leaf.names)
  return specs


def _annotation_for(names: tuple[str, ...], ndim: int, annotations: Mapping[tuple[str, ...], tuple]):
  # Optimizer moments repeat the parameter tree under their own prefix: match the parameter path as a suffix.
  for start in range(len(names)):
    spec = annotations.get(names[start:])
    if spec is not None and len(spec) == ndim:
      return list(spec)
  return [None] * ndim


def array_spec(names: tuple[str, ...], shape: tuple[int, ...], mesh: Mesh, *, strategy: str = "replicated",
               annotations: Mapping[tuple[str, ...], tuple] = (), fsdp_min_size: int = 2 ** 14) -> P:
  """The partition spec of one state array at path ``names`` (see the module docstring)."""
  if strategy not in STRATEGIES:
    raise ValueError(f"unknown parameter sharding {strategy!r}; known: {', '.join(STRATEGIES)}")
  spec = _annotation_for(names, len(shape), dict(annotations))
  if mesh.shape["model"] == 1:
    spec = [None if axis == "model" else axis for axis in spec]
  data = mesh.shape["data"]
  if strategy == "fsdp" and data > 1 and int(np.prod(shape, dtype=np.int64)) >= fsdp_min_size:
    for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):  # Largest first; ties: the earlier one.
      if spec[dim] is None and shape[dim] % data == 0:
        spec[dim] = "data"
        break
  return P(*spec)


def state_shardings(abstract_state: Any, mesh: Mesh, *, strategy: str = "replicated",
                    annotations: Mapping[tuple[str, ...], tuple] = (), fsdp_min_size: int = 2 ** 14) -> Any:
  """``NamedSharding`` for every array of ``abstract_state`` (a pytree of arrays or ``ShapeDtypeStruct``)."""
  annotations = dict(annotations)

  def sharding(path, leaf):
    spec = array_spec(path_names(path), tuple(np.shape(leaf)), mesh, strategy=strategy, annotations=annotations,
                      fsdp_min_size=fsdp_min_size)
    return NamedSharding(mesh, spec)

  return jax.tree_util.tree_map_with_path(sharding, abstract_state)
