"""Object detection with single-shot detectors (SSD, YOLO v1): padded boxes in, COCO and VOC numbers out.

Host side, a raw dataset example goes through its adapter (``jvision.data.adapters``) and
``jvision.data.detection_pipeline.transform_example`` (augmentation, resize and pad to ``image_size``,
normalisation, objects padded to ``max_objects``). Device side, ``family`` picks the loss:

* ``"ssd"``: ``jvision.losses.detection.ssd_loss`` against the model's ``default_boxes()``, normalised by the
  number of matched default boxes in the batch;
* ``"yolo"``: ``jvision.losses.detection.yolo_loss``, summed per image and averaged over the batch (as the
  paper).

Evaluation runs the model's jit-compiled ``predict`` (decoding + NMS, static shapes) and feeds a
``DetectionEvaluator`` (COCO AP/AR and VOC mAP). The evaluator keeps the first images with their predictions
and, given a directory (``write_pictures``), saves them as ``predictions.png``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision import viz
from jvision.data import adapters, detection_pipeline
from jvision.data import box_transforms as bt
from jvision.losses import detection as detection_losses
from jvision.metrics.detection import DetectionEvaluator

FAMILIES = ("ssd", "yolo")
SCALAR_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "VOC_mAP", "VOC07_mAP")
MASK_METRICS = tuple(f"mask_{name}" for name in SCALAR_METRICS[:9])


def resolve_class_names(num_classes: int, class_names: Optional[Sequence[str]]) -> tuple[str, ...]:
  """``class_names`` as a tuple (default ``"0"``, ``"1"``, ...), checked against ``num_classes`` (>= 1)."""
  if num_classes < 1:
    raise ValueError(f"num_classes must be >= 1, got {num_classes}")
  names = tuple(class_names) if class_names else tuple(str(i) for i in range(num_classes))
  if len(names) != num_classes:
    raise ValueError(f"{len(names)} class_names for {num_classes} classes")
  return names


class DetectionPictureEvaluator:
  """``DetectionEvaluator`` over eval outputs with a ``mask``, keeping a few pictures of the predictions.

  ``add(outputs)`` takes the outputs of ``DetectionTask.eval_outputs``; ``result()`` returns the scalar COCO
  and VOC metrics (``SCALAR_METRICS``); ``write_pictures(directory)`` saves ``predictions.png``. Outputs with
  instance masks (``masks [B, D, H, W]`` and ``gt_masks [B, G, H, W]``, as Mask R-CNN's) add the COCO mask
  metrics ``mask_AP`` ... ``mask_AR100``.
  """

  def __init__(self, num_classes: int, class_names: Sequence[str], mean, std, num_pictures: int = 16,
               min_score: float = 0.3):
    self.evaluator = DetectionEvaluator(num_classes=num_classes)
    self.class_names = tuple(class_names)
    self.mean, self.std = mean, std
    self.num_pictures = num_pictures
    self.min_score = min_score
    self._pictures: list[dict] = []
    self._with_masks = False

  def add(self, outputs: Mapping[str, np.ndarray]) -> None:
    keep = np.asarray(outputs["mask"], bool)
    o = {k: np.asarray(v)[keep] for k, v in outputs.items()}
    self.evaluator.add_batch(o["image_id"], o["boxes"], o["scores"], o["classes"], o["valid"], o["gt_boxes"],
                             o["gt_labels"], o["gt_valid"], gt_crowd=o["gt_crowd"], pred_masks=o.get("masks"),
                             gt_masks=o.get("gt_masks"))
    self._with_masks = "masks" in o
    have = sum(len(p["image"]) for p in self._pictures)
    if have < self.num_pictures and "image" in o:
      self._pictures.append({k: v[:self.num_pictures - have] for k, v in o.items() if k != "gt_masks"})

  def result(self) -> dict[str, float]:
    result = self.evaluator.result()
    names = SCALAR_METRICS + (MASK_METRICS if self._with_masks else ())
    return {name: float(result[name]) for name in names}

  def picture(self) -> np.ndarray:
    """A uint8 grid of the kept images with their predicted boxes (scores >= ``min_score``) and, for Mask
    R-CNN, those detections' pasted masks."""
    if not self._pictures:
      raise ValueError("no images were added")
    kept = {k: np.concatenate([p[k] for p in self._pictures]) for k in self._pictures[0]}
    batch = {"image": kept["image"], "boxes": kept["gt_boxes"], "labels": kept["gt_labels"],
             "valid": kept["gt_valid"]}
    predictions = {"boxes": kept["boxes"], "labels": kept["classes"], "scores": kept["scores"],
                   "valid": kept["valid"]}
    if "masks" in kept:
      predictions["masks"] = kept["masks"]
    return viz.detection_grid(batch, self.class_names, predictions, mean=self.mean, std=self.std,
                              max_images=self.num_pictures, min_score=self.min_score)

  def write_pictures(self, directory: str) -> str:
    return viz.save_png(os.path.join(directory, "predictions.png"), self.picture())


class DetectionTask:
  """Single-shot detection on a TFDS detection dataset.

  Args:
    family: ``"ssd"`` or ``"yolo"`` (which loss; the model must be of that family).
    dataset: TFDS name whose adapter converts raw examples (e.g. ``"shapes/multi"``, ``"voc/2007"``).
    num_classes: foreground classes.
    image_size: side of the square model input.
    max_objects: ground-truth slots per image (more objects keep the largest).
    augment: ``"none"``, ``"flip"``, ``"crop"`` or ``"ssd"`` (``detection_pipeline.AUGMENTATIONS``).
    jitter: photometric jitter in training.
    mean, std: normalisation of [0, 1] images.
    class_names: for pictures (default: class indices).
    num_pictures: images drawn by the evaluator.
    neg_pos_ratio, iou_threshold: SSD matching and hard-negative mining.
    lambda_coord, lambda_noobj: YOLO loss weights.
  """

  def __init__(self, family: str, dataset: str, num_classes: int, image_size: int, max_objects: int,
               augment: str = "flip", jitter: bool = True, mean: Sequence[float] = bt.IMAGENET_MEAN,
               std: Sequence[float] = bt.IMAGENET_STD, class_names: Optional[Sequence[str]] = None,
               num_pictures: int = 16, neg_pos_ratio: float = 3.0, iou_threshold: float = 0.5,
               lambda_coord: float = 5.0, lambda_noobj: float = 0.5):
    if family not in FAMILIES:
      raise ValueError(f"unknown detector family {family!r}; known: {', '.join(FAMILIES)}")
    self.class_names = resolve_class_names(num_classes, class_names)
    self.family = family
    self.dataset = dataset
    self.adapter = adapters.get_adapter(dataset)
    self.num_classes = num_classes
    self.image_size = image_size
    self.mean, self.std = tuple(mean), tuple(std)
    self.num_pictures = num_pictures
    self.neg_pos_ratio, self.iou_threshold = neg_pos_ratio, iou_threshold
    self.lambda_coord, self.lambda_noobj = lambda_coord, lambda_noobj
    options = dict(image_size=image_size, max_objects=max_objects, mean=self.mean, std=self.std)
    self._train_transform = detection_pipeline.make_transform(train=True, augment=augment, jitter=jitter,
                                                              **options)
    self._eval_transform = detection_pipeline.make_transform(train=False, augment="none", jitter=False,
                                                             **options)

  # Host side.

  def _prepare(self, example: Mapping[str, Any], transform, rng) -> dict[str, np.ndarray]:
    adapted = self.adapter(dict(example))
    out = transform(adapted, rng)
    labels = out["labels"][out["valid"]]
    if np.any(labels >= self.num_classes):
      raise ValueError(f"image_id {out['image_id']}: label {labels.max()} is outside [0, {self.num_classes})")
    return {"image": out["image"], "boxes": out["boxes"], "labels": out["labels"], "valid": out["valid"],
            "is_crowd": out["is_crowd"], "image_id": out["image_id"]}

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    return self._prepare(example, self._train_transform, rng)

  def preprocess_eval(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return self._prepare(example, self._eval_transform, np.random.default_rng(0))

  # Device side.

  def _per_image_loss(self, apply_fn, variables, outputs, batch):
    valid = batch["valid"] & ~batch["is_crowd"]
    if self.family == "ssd":
      priors = apply_fn(variables, method="default_boxes")
      loss_fn = lambda logits, deltas, b, l, v: detection_losses.ssd_loss(
          logits, deltas, b / self.image_size, l, v, priors, iou_threshold=self.iou_threshold,
          neg_pos_ratio=self.neg_pos_ratio)
      localization, confidence, positives = jax.vmap(loss_fn)(
          outputs["class_logits"], outputs["box_deltas"], batch["boxes"], batch["labels"], valid)
      normaliser = jnp.maximum(positives.sum(), 1.0)
      loss = (localization.sum() + confidence.sum()) / normaliser
      return loss, {"localization_loss": localization.sum() / normaliser,
                    "confidence_loss": confidence.sum() / normaliser, "positives": positives.mean()}
    num_boxes = apply_fn(variables, method="predictors_per_cell")
    loss_fn = lambda p, b, l, v: detection_losses.yolo_loss(
        p, b, l, v, self.image_size, num_boxes, lambda_coord=self.lambda_coord, lambda_noobj=self.lambda_noobj)
    terms = jax.vmap(loss_fn)(outputs, batch["boxes"], batch["labels"], valid)
    means = {f"{name}_loss": jnp.mean(value) for name, value in terms.items() if name != "total"}
    return jnp.mean(terms["total"]), means

  def loss(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any], batch: Mapping[str, jnp.ndarray],
           rng: jax.Array):
    """Mean training loss of a batch -> ``(loss, (metrics, new_model_state))``."""
    mutable = [name for name in variables if name != "params"]
    outputs, new_model_state = apply_fn(variables, batch["image"], train=True, rngs={"dropout": rng},
                                        mutable=mutable)
    loss, metrics = self._per_image_loss(apply_fn, variables, outputs, batch)
    return loss, ({"loss": loss, **metrics}, dict(new_model_state))

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """Decoded detections (pixels of the model input) next to the padded ground truth and the images."""
    predictions = apply_fn(variables, batch["image"], method="predict")
    return {**predictions, "gt_boxes": batch["boxes"], "gt_labels": batch["labels"], "gt_valid": batch["valid"],
            "gt_crowd": batch["is_crowd"], "image_id": batch["image_id"], "mask": batch["mask"],
            "image": batch["image"]}

  def make_evaluator(self) -> DetectionPictureEvaluator:
    return DetectionPictureEvaluator(self.num_classes, self.class_names, self.mean, self.std, self.num_pictures)
