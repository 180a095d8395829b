"""Single-object localization (OverFeat): one class and one box per image.

Training examples are resized to the model's ``window_size`` (``train_size``) and the box target is the
ground-truth box as fractions of that window; the loss is cross-entropy on the class plus ``box_weight`` times
the mean squared error of the class-specific box (``jvision.losses.detection.overfeat_loss``). An augmented
crop that loses the object leaves an example without a box: it is masked out of both terms.

Evaluation images are resized to ``eval_size`` and the model's multi-scale ``predict`` gives one box per image.
Metrics: ``mean_iou``, ``class_accuracy``, ``localization_accuracy`` (right class and IoU >= 0.5, the
ImageNet localization criterion), plus the COCO/VOC numbers of ``DetectionEvaluator`` on the same
predictions; the evaluator draws ``predictions.png``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision.data import adapters, detection_pipeline
from jvision.data import box_transforms as bt
from jvision.losses import detection as detection_losses
from jvision.metrics.accumulators import SumEvaluator
from jvision.ops import boxes as box_ops
from jvision.tasks.detection import DetectionPictureEvaluator, resolve_class_names

LOCALIZATION_METRICS = ("mean_iou", "class_accuracy", "localization_accuracy")


class LocalizationEvaluator:
  """Means of the per-image localization metrics and the detection evaluator's COCO/VOC numbers."""

  def __init__(self, detection: DetectionPictureEvaluator):
    self.sums = SumEvaluator()
    self.detection = detection

  def add(self, outputs: Mapping[str, np.ndarray]) -> None:
    self.sums.add({k: outputs[k] for k in (*LOCALIZATION_METRICS, "count")})
    self.detection.add({k: v for k, v in outputs.items() if k not in (*LOCALIZATION_METRICS, "count")})

  def result(self) -> dict[str, float]:
    return {**self.sums.result(), **self.detection.result()}

  def write_pictures(self, directory: str) -> str:
    return self.detection.write_pictures(directory)


class LocalizationTask:
  """One object per image: class + box.

  Args:
    dataset: TFDS name whose adapter converts raw examples (e.g. ``"shapes/single"``).
    num_classes: classes.
    train_size: side of training images (the model's ``window_size``).
    eval_size: side of evaluation images (the largest inference scale).
    augment: ``detection_pipeline.AUGMENTATIONS`` for training; jitter: photometric jitter.
    box_weight: weight of the box term.
    background_fraction: share of training windows drawn as background (``augment="background"``: a window
      holding at most a fifth of the object), labelled with the extra class ``num_classes`` of a model built
      with ``background=True``; their box term is masked out. 0 trains on object windows only.
    part_fraction: share of training windows drawn as parts of an object (``augment="part"``: a window
      0.4-0.9 times the object's longer side, centred inside it), labelled "no object" like background
      windows, so that windows seeing only part of a large object stop voting for a class at test time.
    mean, std, class_names, num_pictures: normalisation and pictures.
  """

  def __init__(self, dataset: str, num_classes: int, train_size: int = 64, eval_size: int = 96,
               augment: str = "crop", jitter: bool = True, box_weight: float = 10.0,
               background_fraction: float = 0.0, part_fraction: float = 0.0,
               mean: Sequence[float] = bt.IMAGENET_MEAN, std: Sequence[float] = bt.IMAGENET_STD,
               class_names: Optional[Sequence[str]] = None, num_pictures: int = 16):
    self.adapter = adapters.get_adapter(dataset)
    self.num_classes = num_classes
    self.train_size, self.eval_size = train_size, eval_size
    self.box_weight = box_weight
    self.mean, self.std = tuple(mean), tuple(std)
    self.class_names = resolve_class_names(num_classes, class_names)
    self.num_pictures = num_pictures
    if not 0.0 <= background_fraction < 1.0:
      raise ValueError(f"background_fraction must be in [0, 1), got {background_fraction}")
    if not 0.0 <= part_fraction < 1.0 or background_fraction + part_fraction >= 1.0:
      raise ValueError(f"part_fraction must be in [0, 1) and background_fraction + part_fraction below 1, got "
                       f"{part_fraction} and {background_fraction}")
    self.background_fraction = background_fraction
    self.part_fraction = part_fraction
    self._part_transform = detection_pipeline.make_transform(
        train=True, image_size=train_size, max_objects=1, augment="part", jitter=jitter, mean=self.mean,
        std=self.std)
    self._background_transform = detection_pipeline.make_transform(
        train=True, image_size=train_size, max_objects=1, augment="background", jitter=jitter, mean=self.mean,
        std=self.std)
    self._train_transform = detection_pipeline.make_transform(
        train=True, image_size=train_size, max_objects=1, augment=augment, jitter=jitter, mean=self.mean,
        std=self.std)
    self._eval_transform = detection_pipeline.make_transform(
        train=False, image_size=eval_size, max_objects=1, augment="none", jitter=False, mean=self.mean,
        std=self.std)

  def _prepare(self, example, transform, rng) -> dict[str, np.ndarray]:
    out = transform(self.adapter(dict(example)), rng)
    label = int(out["labels"][0])
    if label >= self.num_classes:
      raise ValueError(f"image_id {out['image_id']}: label {label} is outside [0, {self.num_classes})")
    return {"image": out["image"], "box": out["boxes"][0], "label": np.int32(max(label, 0)),
            "has_object": out["valid"][0], "image_id": out["image_id"]}

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    draw = rng.random() if self.background_fraction or self.part_fraction else 1.0
    if draw < self.background_fraction + self.part_fraction:
      transform = self._background_transform if draw < self.background_fraction else self._part_transform
      out = self._prepare(example, transform, rng)
      if not out["has_object"]:
        out["label"] = np.int32(self.num_classes)
      return out
    return self._prepare(example, self._train_transform, rng)

  def preprocess_eval(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return self._prepare(example, self._eval_transform, np.random.default_rng(0))

  def loss(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any], batch: Mapping[str, jnp.ndarray],
           rng: jax.Array):
    """Mean over images with an object of ``cross_entropy + box_weight * squared_error``."""
    mutable = [name for name in variables if name != "params"]
    outputs, new_model_state = apply_fn(variables, batch["image"], train=True, rngs={"dropout": rng},
                                        mutable=mutable)
    if outputs["class_logits"].shape[1:3] != (1, 1):
      raise ValueError(f"training images must be one window; the model gave a "
                       f"{outputs['class_logits'].shape[1:3]} map (set train_size to the window size)")
    background = self.background_fraction > 0 or self.part_fraction > 0
    classes = self.num_classes + int(background)
    if outputs["class_logits"].shape[-1] != classes:
      needs = (f"{self.num_classes} classes + background: build the model with background=True" if background
               else f"{self.num_classes} classes")
      raise ValueError(f"the model gives {outputs['class_logits'].shape[-1]} class logits; the task needs "
                       f"{classes} ({needs})")
    target = batch["box"] / self.train_size
    # Background windows (label num_classes) train the classifier only.
    cross_entropy, squared_error = jax.vmap(detection_losses.overfeat_loss)(
        outputs["class_logits"][:, 0, 0], outputs["boxes"][:, 0, 0], target, batch["label"])
    box_weight = batch["has_object"].astype(jnp.float32)
    class_weight = jnp.ones_like(box_weight) if background else box_weight
    weighted_mean = lambda values, weight: jnp.sum(values * weight) / jnp.maximum(weight.sum(), 1.0)
    squared_error = weighted_mean(squared_error, box_weight)
    cross_entropy = weighted_mean(cross_entropy, class_weight)
    loss = cross_entropy + self.box_weight * squared_error
    correct = jnp.argmax(outputs["class_logits"][:, 0, 0], -1) == batch["label"]
    accuracy = weighted_mean(correct, class_weight)
    return loss, ({"loss": loss, "class_loss": cross_entropy, "box_mse": squared_error, "accuracy": accuracy},
                  dict(new_model_state))

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    prediction = apply_fn(variables, batch["image"], method="predict")
    box, label = prediction["boxes"][:, 0], prediction["classes"][:, 0]
    iou = jax.vmap(lambda a, b: box_ops.box_iou(a[None], b[None])[0, 0])(box, batch["box"])
    correct = label == batch["label"]
    mask = batch["mask"] & batch["has_object"]
    weight = mask.astype(jnp.float32)
    return {
        "mean_iou": jnp.sum(iou * weight), "class_accuracy": jnp.sum(correct * weight),
        "localization_accuracy": jnp.sum((correct & (iou >= 0.5)) * weight), "count": jnp.sum(weight),
        **prediction, "gt_boxes": batch["box"][:, None], "gt_labels": jnp.where(mask, batch["label"], -1)[:, None],
        "gt_valid": mask[:, None], "gt_crowd": jnp.zeros_like(mask)[:, None], "image_id": batch["image_id"],
        "mask": batch["mask"], "image": batch["image"]}

  def make_evaluator(self) -> LocalizationEvaluator:
    return LocalizationEvaluator(DetectionPictureEvaluator(self.num_classes, self.class_names, self.mean,
                                                           self.std, self.num_pictures, min_score=0.0))
