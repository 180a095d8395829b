"""Optimizers and learning-rate schedules from a config.

``config.optimizer``: ``name`` (sgd, momentum, nesterov, adam, adamw, rmsprop, lamb), ``learning_rate`` (the
peak rate), ``weight_decay``, ``momentum``, ``b1``/``b2``/``eps``, ``grad_clip_norm`` (0: off).
``config.schedule``: ``name`` (constant, step, cosine), ``warmup_steps`` (linear warm-up from 0, any schedule),
``decay_steps`` (step: the steps at which the rate is multiplied by ``decay_factor``), ``final_fraction``
(cosine: the last step's rate as a fraction of the peak, in [0, 1]; default 0).
"""

from __future__ import annotations

from typing import Any, Mapping

import optax

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "lamb")
SCHEDULES = ("constant", "step", "cosine")


def make_schedule(schedule: Mapping[str, Any], learning_rate: float, total_steps: int) -> optax.Schedule:
  """Learning rate as a function of the step."""
  name = schedule["name"]
  warmup = int(schedule.get("warmup_steps", 0))
  if name not in SCHEDULES:
    raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")
  if not 0 <= warmup < total_steps:
    raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup}")
  if name == "constant":
    main = optax.constant_schedule(learning_rate)
  elif name == "step":
    boundaries = {int(s) - warmup: float(schedule.get("decay_factor", 0.1))
                  for s in schedule.get("decay_steps", ())}
    main = optax.piecewise_constant_schedule(learning_rate, boundaries)
  else:
    final_fraction = float(schedule.get("final_fraction", 0.0))
    if not 0.0 <= final_fraction <= 1.0:
      raise ValueError(f"final_fraction must be in [0, 1], got {final_fraction}")
    main = optax.cosine_decay_schedule(learning_rate, decay_steps=total_steps - warmup, alpha=final_fraction)
  if warmup == 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup), main], [warmup])


def make_optimizer(optimizer: Mapping[str, Any], schedule: optax.Schedule) -> optax.GradientTransformation:
  """The optax optimizer named by ``optimizer['name']`` driven by ``schedule``."""
  name = optimizer["name"]
  weight_decay = float(optimizer.get("weight_decay", 0.0))
  momentum = float(optimizer.get("momentum", 0.9))
  b1, b2, eps = (float(optimizer.get(k, d)) for k, d in (("b1", 0.9), ("b2", 0.999), ("eps", 1e-8)))
  if name == "sgd":
    tx = optax.sgd(schedule)
  elif name in ("momentum", "nesterov"):
    tx = optax.sgd(schedule, momentum=momentum, nesterov=name == "nesterov")
  elif name == "adam":
    tx = optax.adam(schedule, b1=b1, b2=b2, eps=eps)
  elif name == "adamw":
    tx = optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  elif name == "rmsprop":
    tx = optax.rmsprop(schedule, decay=float(optimizer.get("decay", 0.9)), eps=eps, momentum=momentum)
  elif name == "lamb":
    tx = optax.lamb(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  else:
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
  # Coupled (L2) weight decay for the optimizers that have no decoupled variant.
  if weight_decay and name in ("sgd", "momentum", "nesterov", "adam", "rmsprop"):
    tx = optax.chain(optax.add_decayed_weights(weight_decay), tx)
  clip = float(optimizer.get("grad_clip_norm", 0.0))
  if clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(clip), tx)
  return tx
