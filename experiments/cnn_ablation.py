r"""The CNN exercise answered by measurement: vary one knob at a time on digits, report test accuracy and time.

    python experiments/cnn_ablation.py --workdir runs/cnn_ablation [--steps 600] [--seeds 0,1]

Starts from `experiments/cnn_digits.py` and changes one knob per row: structure (number and width of conv
blocks), filter size, activation, dropout, batch norm, pooling, and optimizer (each optimizer with its usual
learning rate). Every variant trains with the same data order and number of steps. Prints a markdown table
(mean test accuracy over the seeds, min-max, wall time per run) and writes it to `<workdir>/ablation.md`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "experiments", "cnn_digits.py")

# (knob, variant, overrides). The first row of each knob that equals the base config is marked "(base)".
VARIANTS = [
    ("structure", "1 block (32)", ["model.features=(32,)"]),
    ("structure", "2 blocks (32, 64) (base)", []),
    ("structure", "3 blocks (32, 64, 128)", ["model.features=(32, 64, 128)"]),
    ("structure", "2 blocks x 1 conv", ["model.convs_per_block=1"]),
    ("filter size", "1x1", ["model.kernel_size=1"]),
    ("filter size", "3x3 (base)", []),
    ("filter size", "5x5", ["model.kernel_size=5"]),
    ("filter size", "7x7", ["model.kernel_size=7"]),
    ("activation", "relu (base)", []),
    ("activation", "leaky_relu", ["model.activation=leaky_relu"]),
    ("activation", "elu", ["model.activation=elu"]),
    ("activation", "gelu", ["model.activation=gelu"]),
    ("activation", "swish", ["model.activation=swish"]),
    ("activation", "tanh", ["model.activation=tanh"]),
    ("dropout", "0.0", ["model.dropout_rate=0.0"]),
    ("dropout", "0.2 (base)", []),
    ("dropout", "0.5", ["model.dropout_rate=0.5"]),
    ("batch norm", "on (base)", []),
    ("batch norm", "off", ["model.batch_norm=false"]),
    ("pooling", "max (base)", []),
    ("pooling", "avg", ["model.pooling=avg"]),
    ("pooling", "none (global average head)", ["model.pooling=none", "model.global_pool=true"]),
    ("optimizer", "sgd, lr 0.1", ["optimizer.name=sgd", "optimizer.learning_rate=0.1"]),
    ("optimizer", "momentum 0.9, lr 0.05", ["optimizer.name=momentum", "optimizer.learning_rate=0.05"]),
    ("optimizer", "nesterov 0.9, lr 0.05", ["optimizer.name=nesterov", "optimizer.learning_rate=0.05"]),
    ("optimizer", "adam, lr 3e-3", ["optimizer.name=adam"]),
    ("optimizer", "adamw, lr 3e-3 (base)", []),
    ("optimizer", "rmsprop, lr 1e-3", ["optimizer.name=rmsprop", "optimizer.learning_rate=1e-3"]),
    ("optimizer", "lamb, lr 1e-2", ["optimizer.name=lamb", "optimizer.learning_rate=1e-2"]),
]


def run(workdir: str, steps: int, seeds: list[int], only: str = "") -> str:
  from jvision import config as config_lib, train

  rows = []
  base_cache: dict[int, tuple[float, float]] = {}
  for knob, variant, overrides in VARIANTS:
    if only and knob != only:
      continue
    accuracies, seconds = [], []
    for seed in seeds:
      if not overrides and seed in base_cache:  # The base config appears under every knob: train it once.
        accuracy, elapsed = base_cache[seed]
      else:
        config = config_lib.load_config(CONFIG, [
            f"total_steps={steps}", f"seed={seed}", f"eval_every_steps={steps}",
            f"checkpoint_every_steps={steps}", "keep_checkpoints=1", *overrides])
        name = f"{knob}-{variant}-seed{seed}".replace(" ", "_").replace("/", "_")
        start = time.perf_counter()
        summary = train.train_and_evaluate(config, os.path.join(workdir, name), progress=False)
        accuracy, elapsed = summary["eval/accuracy"], time.perf_counter() - start
        if not overrides:
          base_cache[seed] = (accuracy, elapsed)
      accuracies.append(accuracy)
      seconds.append(elapsed)
    rows.append((knob, variant, float(np.mean(accuracies)), min(accuracies), max(accuracies),
                 float(np.mean(seconds))))
    print(f"{knob:12s} {variant:32s} acc {rows[-1][2]:.4f}  {rows[-1][5]:.1f}s", file=sys.stderr, flush=True)
  lines = [f"| knob | variant | test accuracy (mean of {len(seeds)} seeds) | min - max | time per run (s) |",
           "|---|---|---|---|---|"]
  lines += [f"| {k} | {v} | {m:.4f} | {lo:.4f} - {hi:.4f} | {s:.1f} |" for k, v, m, lo, hi, s in rows]
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--steps", type=int, default=600)
  parser.add_argument("--seeds", default="0,1", help="comma-separated seeds; each variant trains once per seed")
  parser.add_argument("--only", default="", help="run only this knob (e.g. 'optimizer')")
  args = parser.parse_args()
  table = run(args.workdir, args.steps, [int(s) for s in args.seeds.split(",")], args.only)
  os.makedirs(args.workdir, exist_ok=True)
  with open(os.path.join(args.workdir, "ablation.md"), "w") as f:
    f.write(table + "\n")
  print(table)


if __name__ == "__main__":
  main()
