"""Tasks: how a batch becomes a loss, and predictions become metrics, for one kind of training.

A task is the glue between the generic trainer (which never names a model or a loss) and one kind of
training. It is any object with:

- ``preprocess_train(example, rng: np.random.Generator) -> dict`` and ``preprocess_eval(example) -> dict``:
  a raw dataset example (dict of numpy arrays) -> fixed-shape model inputs and targets (host side, in grain).
- ``loss(apply_fn, variables, batch, rng) -> (loss, (metrics, new_model_state))``: pure, jit-compiled inside
  the train step; ``metrics`` are scalars averaged over the logging interval; ``new_model_state`` holds the
  updated non-parameter collections (e.g. ``batch_stats``).
- ``eval_outputs(apply_fn, variables, batch) -> pytree``: pure, jit-compiled; the batch carries a ``mask`` of
  valid (non-padding) examples. Its outputs are replicated and handed to the evaluator as numpy.
- ``make_evaluator()``: a fresh host-side object with ``add(outputs)`` and ``result() -> dict[str, float]``
  (e.g. ``jvision.metrics.accumulators.SumEvaluator`` for means, a COCO/VOC accumulator for detection).
  An evaluator may also have ``write_pictures(directory)``: the trainer calls it after each evaluation so
  the workdir holds pictures of the latest predictions.
"""

from __future__ import annotations

from typing import Any

from jvision import registry

TASKS = {
    "classification": "jvision.tasks.classification:ClassificationTask",
    "multilabel": "jvision.tasks.multilabel:MultiLabelTask",
    "contrastive": "jvision.tasks.contrastive:ContrastiveTask",
    "detection": "jvision.tasks.detection:DetectionTask",
    "two_stage_detection": "jvision.tasks.two_stage:TwoStageDetectionTask",
    "localization": "jvision.tasks.localization:LocalizationTask",
    "segmentation": "jvision.tasks.segmentation:SegmentationTask",
    "reconstruction": "jvision.tasks.reconstruction:ReconstructionTask",
}


def get_task(name: str, **kwargs: Any):
  """Returns the task registered as ``name`` built with ``kwargs``."""
  return registry.lookup("task", TASKS, name)(**kwargs)
