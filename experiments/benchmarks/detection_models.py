r"""Results row of a trained detector: its final COCO/VOC numbers, training time and inference images/s.

    TFDS_DATA_DIR=/tmp/tfds-det python experiments/benchmarks/detection_models.py \
        --config experiments/ssd_shapes.py --workdir runs/ssd_shapes [--batch_size 32 --iterations 10]

Reads ``summary.json`` of the workdir (written by ``jvision.train`` at the end of training: the last evaluation
and the training wall time), restores the latest checkpoint, and times the jit-compiled ``predict`` (decoding
and NMS included; through the task's ``predict`` when it has one, e.g. Fast R-CNN with its proposals) on a
batch of preprocessed test images, after one compile-and-warm-up call. Prints one Markdown table row: model,
data, AP, AP50, VOC mAP, (localization accuracy), (Mask R-CNN's mask AP and mask AP50), training time, images/s
(for Mask R-CNN with the 28 x 28 masks of every detection, not pasted).

    TFDS_DATA_DIR=/tmp/tfds-det python experiments/benchmarks/detection_models.py \
        --config experiments/mask_rcnn_shapes.py --workdir runs/mask_rcnn_shapes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import numpy as np

from jvision import checkpointing, config as config_lib, train
from jvision.data import pipeline


def measure_inference(config, workdir: str, batch_size: int, iterations: int) -> float:
  """Images per second of the model's jitted ``predict`` over a batch of test images."""
  exp = train.build_experiment(config)
  checkpointer = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"), every_steps=1, keep=1,
                                            use_async=False)
  if checkpointer.latest_step() is None:
    raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')!r}")
  state, _, _ = train.restore_or_init(exp, checkpointer)
  checkpointer.close()
  batch = next(pipeline.eval_batches(exp.eval_source, exp.task.preprocess_eval, local_batch_size=batch_size))
  variables = {"params": state.params, **state.model_state}
  task_predict = getattr(exp.task, "predict", None)
  if task_predict is not None:  # Tasks whose model needs more than images (e.g. Fast R-CNN's proposals).
    inputs = jax.device_put({k: v for k, v in batch.items() if k in ("image", "proposals", "proposal_valid")})
    predict = jax.jit(lambda v, b: task_predict(exp.model.apply, v, b))
  else:
    inputs = jax.device_put(batch["image"])
    predict = jax.jit(lambda v, x: exp.model.apply(v, x, method="predict"))
  jax.block_until_ready(predict(variables, inputs))
  start = time.perf_counter()
  for _ in range(iterations):
    jax.block_until_ready(predict(variables, inputs))
  return iterations * batch_size / (time.perf_counter() - start)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--iterations", type=int, default=10)
  args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
  config = config_lib.load_config(args.config, [a for a in rest if a.startswith("--config.")])
  with open(os.path.join(args.workdir, "summary.json")) as f:
    summary = json.load(f)
  images_per_second = measure_inference(config, args.workdir, args.batch_size, args.iterations)
  name = "mask_rcnn" if config.model.get("mask_head") else config.model.name
  cells = [name, config.data.name, f"{summary['eval/AP']:.3f}", f"{summary['eval/AP50']:.3f}",
           f"{summary['eval/VOC_mAP']:.3f}"]
  if "eval/localization_accuracy" in summary:
    cells.append(f"loc. acc. {summary['eval/localization_accuracy']:.3f}")
  if "eval/mask_AP" in summary:
    cells.append(f"mask AP {summary['eval/mask_AP']:.3f} / mask AP50 {summary['eval/mask_AP50']:.3f}")
  cells += [f"{summary['train_seconds'] / 60:.1f} min ({summary['step']} steps)", f"{images_per_second:.0f}"]
  print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main()
