"""Re-evaluate the latest checkpoint of a run.

    python -m jvision.evaluate --config experiments/cnn_digits.py --workdir runs/cnn_digits

Builds the experiment from the config (with the same ``--config.key=value`` overrides as training), restores
the latest checkpoint in the workdir, runs the task's evaluation on the eval split and prints the metrics as
one JSON line. Like the end of training, it (re)draws the task's ``predictions.png`` into the workdir.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import jax

from jvision import checkpointing, compilation, config as config_lib, train


def evaluate_checkpoint(config, workdir: str, devices: Optional[list] = None,
                        picture_dir: Optional[str] = None) -> dict[str, float]:
  """Restores the latest checkpoint of ``workdir`` and returns the eval metrics with its step; with
  ``picture_dir``, also writes the task's ``predictions.png`` there (as the trainer does after training)."""
  exp = train.build_experiment(config, devices)
  checkpointer = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"), every_steps=1, keep=1,
                                            use_async=False)
  if checkpointer.latest_step() is None:
    raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')!r}")
  state, _, step = train.restore_or_init(exp, checkpointer)
  checkpointer.close()
  jit_eval_step = compilation.jit(lambda s, b: train.eval_step(s, b, task=exp.task),
                                  in_shardings=(exp.state_sharding, exp.batch_sharding),
                                  out_shardings=exp.replicated)
  metrics = train.evaluate(exp, state, jit_eval_step, picture_dir=picture_dir)
  if picture_dir is not None and jax.process_index() == 0:
    train.write_pictures(exp, state, picture_dir)
  return {"step": step, **metrics}


def main(argv: Optional[list[str]] = None) -> None:
  args, overrides = train.parse_args(sys.argv[1:] if argv is None else argv)
  train.initialize_distributed(args)
  config = config_lib.load_config(args.config, overrides)
  metrics = evaluate_checkpoint(config, args.workdir, picture_dir=args.workdir)
  if jax.process_index() == 0:
    print(json.dumps(metrics), flush=True)


if __name__ == "__main__":
  main()
