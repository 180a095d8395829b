"""Compiling programs that run once (parameter initialisation) without LLVM's optimisation on CPU.

The parameter initialisers' unrolled threefry rounds take most of a CPU model's start-up to optimise (a
ResNet-18 ``init``: ~5x longer than at level 0; a VGG-19: 10 s) for a program that runs a single time. Values
can differ from the optimised build in the last bit, never more. Other backends compile as usual.
"""

from __future__ import annotations

from typing import Any, Callable

import jax


def compile_for_one_call(jitted: Any, *args):
  """``jitted`` (a ``jax.jit`` function) compiled for ``args``, at optimisation level 0 on CPU."""
  options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
  return jitted.lower(*args).compile(compiler_options=options)


def init_once(init: Callable, *args):
  """``init(*args)`` (e.g. a flax ``model.init``), jitted and compiled by ``compile_for_one_call``."""
  return compile_for_one_call(jax.jit(init), *args)(*args)
