r"""Input pipeline vs train step, examples/s each: is training input-bound?

    python experiments/benchmarks/input_pipeline.py [--experiments cnn_digits,yolo_shapes,unet_shapes,clip_shapes]
        [--batches 20] [--steps 10] [--data_dir DIR] [--override key=value ...]

For each experiment config (``experiments/<name>.py``, as the trainer loads it, ``--override`` applied to
all): ``jvision.train.build_experiment`` builds task, model, optimizer and the real TFDS data source
(embedded datasets are built into ``--data_dir`` on first use), then
  - pipeline: ``jvision.train.train_batches`` (the trainer's own grain pipeline: shuffle, augmentation,
    batching) yields ``--batches`` batches after one untimed batch (which starts grain's reader threads);
    examples/s = batches x batch size / seconds. No model runs.
  - step: ``make_jit_train_step`` (the trainer's jitted, donated step) runs ``--steps`` times on one fixed
    batch from that pipeline after compilation and one untimed step; examples/s likewise.
The ratio is pipeline / step; below 1 the run is input-bound (the step waits for data). On a CPU both compete
for the same cores during training, so each number here is an upper bound on what it gets in a real run.
"""

from __future__ import annotations

import argparse
import os
import time

import jax

from jvision import config as config_lib, flops, train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pipeline_examples_per_second(exp: train.Experiment, batches: int) -> tuple[float, dict]:
  """Examples/s of the trainer's training iterator, and its first batch."""
  iterator = train.train_batches(exp)
  first = next(iterator)  # Untimed: starts the reader threads.
  start = time.perf_counter()
  for _ in range(batches):
    batch = next(iterator)
  seconds = time.perf_counter() - start
  return batches * len(next(iter(batch.values()))) / seconds, first


def step_examples_per_second(exp: train.Experiment, local_batch: dict, steps: int) -> float:
  """Examples/s of the trainer's jitted step on one fixed batch (compilation and one step excluded)."""
  state = train.init_state(exp)
  batch = train.global_batch(exp, local_batch)
  step = train.make_jit_train_step(exp).lower(state, batch).compile()
  _, _, seconds = flops.time_steps(step, state, batch, steps, warmup_steps=1)
  return exp.config.batch_size / seconds


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--experiments", default="cnn_digits,yolo_shapes,unet_shapes,clip_shapes")
  parser.add_argument("--batches", type=int, default=20, help="timed pipeline batches")
  parser.add_argument("--steps", type=int, default=10, help="timed train steps")
  parser.add_argument("--data_dir", default="", help="TFDS data_dir (empty: the config's, or $TFDS_DATA_DIR)")
  parser.add_argument("--override", action="append", default=[], help="config key=value, for every experiment")
  args = parser.parse_args()

  devices = jax.devices()
  print(f"devices: {len(devices)} x {devices[0].device_kind}; data_dir: "
        f"{args.data_dir or os.environ.get('TFDS_DATA_DIR') or 'TFDS default'}")
  print("| experiment | data | batch | pipeline examples/s | train step examples/s | pipeline / step | verdict |")
  print("|---|---|---|---|---|---|---|")
  for name in args.experiments.split(","):
    overrides = list(args.override) + ([f"data.data_dir={args.data_dir}"] if args.data_dir else [])
    config = config_lib.load_config(os.path.join(REPO, "experiments", f"{name}.py"), overrides)
    exp = train.build_experiment(config)
    pipeline_rate, first_batch = pipeline_examples_per_second(exp, args.batches)
    step_rate = step_examples_per_second(exp, first_batch, args.steps)
    ratio = pipeline_rate / step_rate
    verdict = "input-bound" if ratio < 1 else "not input-bound"
    print(f"| {name} | {config.data.name} | {config.batch_size} | {pipeline_rate:,.0f} | {step_rate:,.0f} | "
          f"{ratio:.2f} | {verdict} |", flush=True)


if __name__ == "__main__":
  main()
