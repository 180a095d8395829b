r"""Checkpoint ensembling: average several trained runs' predicted probabilities on the eval split.

    python -m jvision.ensemble --workdir runs/xray_cnn_s0 --workdir runs/xray_cnn_s1 --workdir runs/xray_cnn_s2

Each member is a workdir (optionally ``workdir@step`` for a given checkpoint; several checkpoints of one run
are members too). Every member's task must produce ``scores`` (probabilities, e.g. the multi-label task's
sigmoids) from ``eval_outputs``; the ensemble's scores are their (weighted) mean, scored by the first
member's evaluator on the first member's eval split. Members must agree on the data set, eval split and
label names. Prints one JSON line: each member's metrics and the ensemble's.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision import compilation, data, restore
from jvision.data import pipeline


def member_outputs(run: restore.Run, source, batch_size: int = 100) -> list[dict[str, np.ndarray]]:
  """``run.task.eval_outputs`` on every batch of ``source`` (numpy, padded batches with a ``mask``)."""
  variables = jax.tree.map(jnp.asarray, run.variables)
  step = compilation.jit(lambda batch: run.task.eval_outputs(run.model.apply, variables, batch))
  outputs = []
  for batch in pipeline.eval_batches(source, run.task.preprocess_eval, local_batch_size=batch_size):
    out = jax.device_get(step(batch))
    if "scores" not in out:
      raise KeyError(f"task {run.config.task.name!r} has no 'scores' in eval_outputs; it has: {', '.join(out)}")
    outputs.append(out)
  return outputs


def average_scores(members: Sequence[np.ndarray], weights: Optional[Sequence[float]] = None) -> np.ndarray:
  """The weighted mean of the members' probabilities [N, ...] (equal weights by default)."""
  if not members:
    raise ValueError("an ensemble needs at least one member")
  shapes = {np.shape(m) for m in members}
  if len(shapes) != 1:
    raise ValueError(f"members' scores differ in shape: {sorted(shapes)}")
  weights = np.ones(len(members)) if weights is None else np.asarray(weights, np.float64)
  if weights.shape != (len(members),) or np.any(weights < 0) or weights.sum() <= 0:
    raise ValueError(f"need {len(members)} non-negative weights with a positive sum; got {weights}")
  return np.tensordot(weights / weights.sum(), np.stack([np.asarray(m, np.float64) for m in members]), axes=1)


def _check_compatible(runs: Sequence[restore.Run]) -> None:
  first = runs[0].config
  for run in runs[1:]:
    for key in ("data.name", "data.eval_split"):
      a, b = first.data[key.split(".")[1]], run.config.data[key.split(".")[1]]
      if a != b:
        raise ValueError(f"{run.workdir}: {key} is {b!r}, but {runs[0].workdir} has {a!r}")
    names = lambda config: tuple(config.task.get("pathologies", ()))
    if names(run.config) != names(first):
      raise ValueError(f"{run.workdir} predicts {names(run.config)}, {runs[0].workdir} {names(first)}")


def evaluate_ensemble(runs: Sequence[restore.Run], weights: Optional[Sequence[float]] = None,
                      batch_size: int = 100, source=None) -> dict:
  """``{"members": [metrics per run], "ensemble": metrics}`` on ``source`` (default: the first run's eval
  split)."""
  if not runs:
    raise ValueError("an ensemble needs at least one member")
  _check_compatible(runs)
  if source is None:
    config = runs[0].config
    source = data.data_source(config.data.name, config.data.eval_split, config.data.get("data_dir") or None)
  outputs = [member_outputs(run, source, batch_size) for run in runs]
  members = []
  for run, batches in zip(runs, outputs):
    evaluator = run.task.make_evaluator()
    for out in batches:
      evaluator.add(out)
    members.append({"workdir": run.workdir, "step": run.step, **evaluator.result()})
  evaluator = runs[0].task.make_evaluator()
  for i, out in enumerate(outputs[0]):
    evaluator.add({**out, "scores": average_scores([batches[i]["scores"] for batches in outputs], weights)})
  return {"members": members, "ensemble": evaluator.result()}


def parse_member(text: str) -> tuple[str, Optional[int]]:
  """``workdir`` or ``workdir@step`` -> (workdir, step or None)."""
  workdir, sep, step = text.rpartition("@")
  if not sep:
    return text, None
  if not step.isdigit():
    raise ValueError(f"member {text!r}: the part after '@' must be a checkpoint step")
  return workdir, int(step)


def main(argv: Optional[list[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", action="append", required=True, help="a member: workdir or workdir@step")
  parser.add_argument("--weights", type=float, nargs="*", default=None)
  parser.add_argument("--batch_size", type=int, default=100)
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  runs = [restore.load_run(*parse_member(member)) for member in args.workdir]
  print(json.dumps(evaluate_ensemble(runs, args.weights, args.batch_size)), flush=True)


if __name__ == "__main__":
  main()
