"""Two-stage object detection (Fast R-CNN, Faster R-CNN): padded boxes in, four losses and COCO/VOC numbers out.

Host side, the same preprocessing as ``jvision.tasks.detection`` (adapter, augmentation, resize and pad,
normalisation, objects padded to ``max_objects``). Device side, ``family`` picks the model and its loss:

* ``"faster_rcnn"`` (``jvision.models.faster_rcnn``): the model samples RoIs against the ground truth inside its
  forward pass; ``jvision.losses.rcnn.faster_rcnn_losses`` gives the RPN objectness, RPN box, head
  classification and head box losses, logged separately, and their sum is minimised.
* ``"fast_rcnn"`` (``jvision.models.fast_rcnn``): the model takes proposals, as batch fields ``proposals
  [B, P, 4]`` (xyxy pixels of the model input) and ``proposal_valid [B, P]``. ``proposals`` says where they
  come from:

  - ``"batch"``: the raw example carries ``proposals`` ``[N, 4]`` float xyxy in pixels of the *original*
    image, best first (e.g. a data source wrapped by a selective-search cache); they are scaled with the image,
    flipped with it, and truncated or padded to ``num_proposals``.
  - ``"jittered_gt"``: a STAND-IN until real proposals exist (``jvision.ops.proposals.jittered_gt_proposals``):
    perturbed ground-truth boxes plus random boxes, made on the host (seeded by the image id at evaluation).
    Evaluation numbers obtained this way use the ground truth and do not measure a detector.

  The loss is the head's classification plus box loss (Fast R-CNN eq. 1), logged separately.

``masks=True`` (Faster R-CNN only) trains and evaluates Mask R-CNN, for a ``FasterRCNN(mask_head=True)``: the
examples carry ``instance_masks [max_objects, S, S]`` (the adapter's ``with_masks``, augmented with the image),
``jvision.losses.rcnn.mask_branch_loss`` adds a fifth logged loss, ``mask_loss``, to the sum, and at
evaluation the predicted 28 x 28 masks are pasted into the image (``jvision.ops.masks.paste_masks``, inside
the jitted step) so that the evaluator reports COCO mask AP (``mask_AP`` ...) next to the box metrics.

Fast R-CNN's geometric augmentation is limited to ``"none"`` and ``"flip"`` (applied after resizing, to the
image, the boxes and the proposals together). Evaluation runs the model's jit-compiled ``predict`` and reuses
``jvision.tasks.detection.DetectionPictureEvaluator`` (COCO AP/AR, VOC mAP, ``predictions.png``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision.data import adapters, detection_pipeline
from jvision.data import box_transforms as bt
from jvision.losses import rcnn as rcnn_losses
from jvision.ops.masks import paste_masks
from jvision.ops.proposals import jittered_gt_proposals
from jvision.tasks.detection import DetectionPictureEvaluator, resolve_class_names

FAMILIES = ("faster_rcnn", "fast_rcnn")
PROPOSAL_SOURCES = ("batch", "jittered_gt")


class TwoStageDetectionTask:
  """Fast or Faster R-CNN training and evaluation on a TFDS detection dataset.

  Args:
    family: ``"faster_rcnn"`` or ``"fast_rcnn"``.
    dataset: TFDS name whose adapter converts raw examples (e.g. ``"shapes/multi"``, ``"voc/2007"``).
    num_classes: foreground classes.
    image_size: side of the square model input.
    max_objects: ground-truth slots per image.
    augment: ``detection_pipeline.AUGMENTATIONS`` for Faster R-CNN; ``"none"`` or ``"flip"`` for Fast R-CNN.
    jitter: photometric jitter in training.
    mean, std: normalisation of [0, 1] images.
    class_names: for pictures (default: class indices).
    num_pictures: images drawn by the evaluator.
    proposals: Fast R-CNN's proposal source, ``"batch"`` or ``"jittered_gt"`` (see the module docstring).
    num_proposals: proposals per image fed to Fast R-CNN (``P``).
    rpn_samples, rpn_positive_fraction: Faster R-CNN's anchor minibatch (256, half positive).
    masks: Mask R-CNN: instance masks in, mask loss, mask AP (see the module docstring).
  """

  def __init__(self, family: str, dataset: str, num_classes: int, image_size: int, max_objects: int,
               augment: str = "flip", jitter: bool = True, mean: Sequence[float] = bt.IMAGENET_MEAN,
               std: Sequence[float] = bt.IMAGENET_STD, class_names: Optional[Sequence[str]] = None,
               num_pictures: int = 16, proposals: str = "batch", num_proposals: int = 256, rpn_samples: int = 256,
               rpn_positive_fraction: float = 0.5, masks: bool = False):
    if family not in FAMILIES:
      raise ValueError(f"unknown two-stage family {family!r}; known: {', '.join(FAMILIES)}")
    self.class_names = resolve_class_names(num_classes, class_names)
    if masks and family != "faster_rcnn":
      raise ValueError(f"masks=True (Mask R-CNN) needs family 'faster_rcnn', got {family!r}")
    if family == "fast_rcnn":
      if proposals not in PROPOSAL_SOURCES:
        raise ValueError(f"unknown proposals {proposals!r}; known: {', '.join(PROPOSAL_SOURCES)}")
      if augment not in ("none", "flip"):
        raise ValueError(f"fast_rcnn supports augment 'none' or 'flip' (proposals must follow the image), "
                         f"got {augment!r}")
      if num_proposals < 1:
        raise ValueError(f"num_proposals must be >= 1, got {num_proposals}")
    self.family = family
    self.dataset = dataset
    self.adapter = adapters.get_adapter(dataset)
    self.num_classes = num_classes
    self.image_size = image_size
    self.mean, self.std = tuple(mean), tuple(std)
    self.num_pictures = num_pictures
    self.proposals, self.num_proposals = proposals, num_proposals
    self.rpn_samples, self.rpn_positive_fraction = rpn_samples, rpn_positive_fraction
    self.masks = masks
    self.flip = family == "fast_rcnn" and augment == "flip"
    options = dict(image_size=image_size, max_objects=max_objects, mean=self.mean, std=self.std)
    train_augment = "none" if family == "fast_rcnn" else augment
    self._train_transform = detection_pipeline.make_transform(train=True, augment=train_augment, jitter=jitter,
                                                              **options)
    self._eval_transform = detection_pipeline.make_transform(train=False, augment="none", jitter=False,
                                                             **options)

  # Host side.

  def _proposals(self, raw: Mapping[str, Any], out: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if self.proposals == "jittered_gt":
      return jittered_gt_proposals(out["boxes"], out["valid"], self.num_proposals, self.image_size, rng)
    if "proposals" not in raw:
      raise ValueError(f"image_id {out['image_id']}: proposals='batch' needs a 'proposals' [N, 4] field in each "
                       "example (xyxy pixels of the original image); use proposals='jittered_gt' as a stand-in")
    boxes = np.asarray(raw["proposals"], np.float32).reshape(-1, 4)[:self.num_proposals]
    scale_y, scale_x = out["scale"]
    boxes = np.clip(boxes * np.array([scale_x, scale_y, scale_x, scale_y], np.float32), 0, self.image_size)
    proposals = np.zeros((self.num_proposals, 4), np.float32)
    proposals[:len(boxes)] = boxes
    valid = np.zeros(self.num_proposals, bool)
    valid[:len(boxes)] = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return {"proposals": proposals, "proposal_valid": valid}

  def _flip(self, example: dict) -> dict:
    size = self.image_size
    flip_boxes = lambda b, v: np.where(v[:, None], np.stack([size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]], -1),
                                       b).astype(np.float32)
    return {**example, "image": np.ascontiguousarray(example["image"][:, ::-1]),
            "boxes": flip_boxes(example["boxes"], example["valid"]),
            "proposals": flip_boxes(example["proposals"], example["proposal_valid"])}

  def _prepare(self, raw: Mapping[str, Any], transform, rng: np.random.Generator, train: bool):
    out = transform(self.adapter(dict(raw), with_masks=self.masks), rng)
    labels = out["labels"][out["valid"]]
    if np.any(labels >= self.num_classes):
      raise ValueError(f"image_id {out['image_id']}: label {labels.max()} is outside [0, {self.num_classes})")
    example = {"image": out["image"], "boxes": out["boxes"], "labels": out["labels"], "valid": out["valid"],
               "is_crowd": out["is_crowd"], "image_id": out["image_id"]}
    if self.masks:
      example["instance_masks"] = out["instance_masks"]
    if self.family == "fast_rcnn":
      proposal_rng = rng if train else np.random.default_rng(int(out["image_id"]))
      example.update(self._proposals(raw, out, proposal_rng))
      if train and self.flip and rng.random() < 0.5:
        example = self._flip(example)
    return example

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    return self._prepare(example, self._train_transform, rng, train=True)

  def preprocess_eval(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return self._prepare(example, self._eval_transform, np.random.default_rng(0), train=False)

  # Device side.

  def loss(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any], batch: Mapping[str, jnp.ndarray],
           rng: jax.Array):
    """Sum of the losses of a batch -> ``(loss, (metrics, new_model_state))``; metrics log each term."""
    mutable = [name for name in variables if name != "params"]
    sampling_rng, loss_rng, dropout_rng = jax.random.split(rng, 3)
    gt_valid = batch["valid"] & ~batch["is_crowd"]
    rngs = {"sampling": sampling_rng, "dropout": dropout_rng}
    if self.family == "faster_rcnn":
      outputs, new_model_state = apply_fn(variables, batch["image"], batch["boxes"], batch["labels"], gt_valid,
                                          train=True, rngs=rngs, mutable=mutable)
      losses = rcnn_losses.faster_rcnn_losses(outputs, batch["boxes"], gt_valid, loss_rng,
                                              rpn_samples=self.rpn_samples,
                                              rpn_positive_fraction=self.rpn_positive_fraction)
      if self.masks:
        if "mask_logits" not in outputs:
          raise ValueError("masks=True needs a model with a mask branch (FasterRCNN(mask_head=True))")
        losses["mask_loss"] = rcnn_losses.mask_branch_loss(outputs, batch["instance_masks"])
        losses["loss"] = losses["loss"] + losses["mask_loss"]
    else:
      outputs, new_model_state = apply_fn(variables, batch["image"], batch["proposals"], batch["proposal_valid"],
                                          batch["boxes"], batch["labels"], gt_valid, train=True, rngs=rngs,
                                          mutable=mutable)
      losses = rcnn_losses.fast_rcnn_losses(outputs)
      losses["loss"] = losses["classification_loss"] + losses["box_loss"]
    sampled = jnp.maximum(outputs["roi_valid"].sum(), 1)
    metrics = {**losses, "foreground_roi_fraction": (outputs["roi_labels"] > 0).sum() / sampled}
    return losses["loss"], (metrics, dict(new_model_state))

  def predict(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
              batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """The model's ``predict`` on a batch: ``boxes``, ``scores``, ``classes``, ``valid`` (and Mask R-CNN's
    ``masks [B, D, M, M]``)."""
    if self.family == "faster_rcnn":
      return apply_fn(variables, batch["image"], method="predict")
    return apply_fn(variables, batch["image"], batch["proposals"], batch["proposal_valid"], method="predict")

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """Detections (pixels of the model input) next to the padded ground truth and the images; with ``masks``,
    the detections' masks pasted into the image (``masks [B, D, S, S]`` bool) and ``gt_masks``."""
    predictions = self.predict(apply_fn, variables, batch)
    outputs = {**predictions, "gt_boxes": batch["boxes"], "gt_labels": batch["labels"], "gt_valid": batch["valid"],
               "gt_crowd": batch["is_crowd"], "image_id": batch["image_id"], "mask": batch["mask"],
               "image": batch["image"]}
    if self.masks:
      if "masks" not in predictions:
        raise ValueError("masks=True needs a model with a mask branch (FasterRCNN(mask_head=True))")
      paste = lambda masks, boxes: paste_masks(masks, boxes, (self.image_size, self.image_size))
      outputs.update(masks=jax.vmap(paste)(predictions["masks"], predictions["boxes"]),
                     gt_masks=batch["instance_masks"].astype(bool))
    return outputs

  def make_evaluator(self) -> DetectionPictureEvaluator:
    return DetectionPictureEvaluator(self.num_classes, self.class_names, self.mean, self.std, self.num_pictures)
