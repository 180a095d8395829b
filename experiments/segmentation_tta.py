r"""mIoU and pixel accuracy of a trained segmentation run with and without D4 test-time augmentation.

    TFDS_DATA_DIR=/tmp/tfds-seg python experiments/segmentation_tta.py --config experiments/unet_shapes.py \
        --workdir runs/unet_shapes [--merge_mode mean] [--config.key=value ...]

Restores the latest checkpoint of the workdir and evaluates its eval split twice: the plain model, and the
mean (``--merge_mode``) of its mask logits over the 8 dihedral transforms (``jvision.tta.d4_transform``:
rotations by 0/90/180/270 degrees, each with and without a horizontal flip, mapped back before merging).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp

from jvision import checkpointing, config as config_lib, train, tta
from jvision.data import pipeline
from jvision.metrics.segmentation import ConfusionMatrixEvaluator, confusion_matrix


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--merge_mode", default="mean")
  args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
  config = config_lib.load_config(args.config, [a for a in rest if a.startswith("--config.")])
  exp = train.build_experiment(config, jax.devices()[:1])
  checkpointer = checkpointing.Checkpointer(os.path.join(args.workdir, "checkpoints"), every_steps=1, keep=1,
                                            use_async=False)
  if checkpointer.latest_step() is None:
    raise FileNotFoundError(f"no checkpoint in {os.path.join(args.workdir, 'checkpoints')!r}")
  state, _, step = train.restore_or_init(exp, checkpointer)
  checkpointer.close()
  variables = {"params": state.params, **state.model_state}
  task = exp.task
  predict = lambda v, images: task.predict(state.apply_fn, v, images)
  augmented = tta.SegmentationTTA(predict, tta.d4_transform(), merge_mode=args.merge_mode)
  num_classes = task.num_classes

  @jax.jit
  def confusions(variables, batch):
    plain = jnp.argmax(predict(variables, batch["image"]), -1)
    merged = jnp.argmax(augmented(variables, batch["image"]), -1)
    count = lambda p: confusion_matrix(p, batch["segmentation"], num_classes, batch["mask"])
    return {"plain": count(plain), "d4": count(merged)}

  evaluators = {"plain": ConfusionMatrixEvaluator(), "d4": ConfusionMatrixEvaluator()}
  start = time.perf_counter()
  for batch in pipeline.eval_batches(exp.eval_source, task.preprocess_eval,
                                     local_batch_size=config.get("eval_batch_size", config.batch_size)):
    out = jax.device_get(confusions(variables, batch))
    for name, evaluator in evaluators.items():
      evaluator.add({"confusion": out[name]})
  result = {"step": step, "examples": len(exp.eval_source), "merge_mode": args.merge_mode,
            "seconds": round(time.perf_counter() - start, 1)}
  for name, evaluator in evaluators.items():
    scores = evaluator.result()
    result[f"{name}/miou"] = round(scores["miou"], 4)
    result[f"{name}/pixel_accuracy"] = round(scores["pixel_accuracy"], 4)
  print(json.dumps(result), flush=True)


if __name__ == "__main__":
  main()
