"""CPU compiler options: the fast convolution for programs that run many times, no LLVM optimisation for
programs that run once.

``jit`` is ``jax.jit`` with ``CPU_OPTIONS`` on the CPU backend. XLA's CPU backend in jax 0.10 hands
convolutions to YNNPACK by default, which on this project's CPU runs them at about half the speed of XLA's
own (Eigen) convolution (``python experiments/benchmarks/cpu_kernels.py``: the forward-pass columns) and took
the benchmark CNN's train step from 159 to 110 images/s (``python experiments/benchmarks/xla_cpu_flags.py``);
for matrix products YNNPACK is the fastest kernel XLA has, bfloat16 ones above all. The train and eval steps,
and the other programs that run a model many times, are compiled with YNNPACK kept to matrix products.

``compile_for_one_call``: the parameter initialisers' unrolled threefry rounds take most of a CPU model's
start-up to optimise (a ResNet-18 ``init``: ~5x longer than at level 0; a VGG-19: 10 s) for a program that
runs a single time. Values can differ from the optimised build in the last bit, never more. Other backends
compile as usual.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax


# YNNPACK for matrix products only (its default in jax 0.10 adds convolutions).
CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


class _Jitted:
  """A ``jax.jit`` function compiled with ``CPU_OPTIONS`` when called at top level; under a transformation
  (``jax.grad``, ``vmap``, ``make_jaxpr``, an enclosing ``jit``), where JAX refuses compiler options, it is
  traced as plain ``jax.jit`` and the enclosing program's options apply."""

  def __init__(self, fun: Callable, options: dict, kwargs: dict):
    self._plain = jax.jit(fun, **kwargs)
    tuned = {**kwargs, "compiler_options": {**options, **(kwargs.get("compiler_options") or {})}}
    self._tuned = jax.jit(fun, **tuned)
    functools.update_wrapper(self, fun)

  def __call__(self, *args, **kwargs):
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((args, kwargs))):
      return self._plain(*args, **kwargs)
    return self._tuned(*args, **kwargs)

  def __getattr__(self, name: str):  # lower, trace, eval_shape, ... of the top-level program.
    if name in ("_plain", "_tuned"):
      raise AttributeError(name)
    return getattr(self._tuned, name)


def jit(fun: Callable, **kwargs) -> Any:
  """``jax.jit(fun, **kwargs)``; on CPU, compiled at top level with ``CPU_OPTIONS`` under any
  ``compiler_options`` given (``_Jitted``)."""
  if jax.default_backend() != "cpu":
    return jax.jit(fun, **kwargs)
  return _Jitted(fun, CPU_OPTIONS, kwargs)


def compile_for_one_call(jitted: Any, *args):
  """``jitted`` (a ``jax.jit`` function) compiled for ``args``, at optimisation level 0 on CPU."""
  options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
  return jitted.lower(*args).compile(compiler_options=options)


def init_once(init: Callable, *args):
  """``init(*args)`` (e.g. a flax ``model.init``), jitted and compiled by ``compile_for_one_call``."""
  return compile_for_one_call(jax.jit(init), *args)(*args)
