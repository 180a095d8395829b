"""Semantic segmentation: per-pixel classes, a multiclass loss, and a streaming mIoU / pixel-accuracy evaluator.

Raw examples go through the dataset's adapter (``jvision.data.adapters``: ``shapes``, ``voc``,
``oxford_iiit_pet``, ...) to ``image`` + ``segmentation`` (uint8, 0 background, class + 1, 255 ignore), then
are resized (longer side to ``image_size``, padding marked 255) and normalised. ``eval_outputs`` returns the
batch's confusion matrix over valid images and non-ignored pixels, summed on device; the evaluator adds the
matrices up and reports mIoU and pixel accuracy over the whole split. ``visualize`` draws predicted masks over
the images (the trainer writes it as a PNG into the workdir).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision import viz
from jvision.data import adapters
from jvision.data import box_transforms as bt
from jvision.losses import segmentation as seg_losses
from jvision.metrics.segmentation import ConfusionMatrixEvaluator, confusion_matrix

IGNORE_INDEX = bt.IGNORE_LABEL


class SegmentationTask:
  """Multi-class semantic segmentation (class 0 is background).

  Args:
    num_classes: classes including background; target values outside ``[0, num_classes)`` other than 255
      are an error.
    dataset: adapter name (``jvision.data.adapters.ADAPTERS``), e.g. ``"shapes"`` or ``"oxford_iiit_pet"``.
    image_size: the longer side is resized to this, the rest padded (ignored in the loss and metrics).
    mean / std: per-channel normalization of [0, 1] images.
    flip: random horizontal flips in training; jitter: photometric jitter in training.
    loss: a name of ``jvision.losses.segmentation.LOSSES``; ``dice_weight`` adds that much Dice loss.
    adapter_options: extra keyword arguments of the adapter (e.g. ``breed_classes`` for pets).
  """

  def __init__(self, num_classes: int, dataset: str = "shapes", image_size: int = 64,
               mean: Sequence[float] = bt.IMAGENET_MEAN, std: Sequence[float] = bt.IMAGENET_STD,
               flip: bool = True, jitter: bool = False, loss: str = "cross_entropy", dice_weight: float = 0.0,
               adapter_options: Optional[Mapping[str, Any]] = None, overlay_images: int = 16):
    if num_classes < 2:
      raise ValueError(f"num_classes must be >= 2 (background + classes); got {num_classes}")
    if loss not in seg_losses.LOSSES:
      raise ValueError(f"unknown segmentation loss {loss!r}; known: {', '.join(seg_losses.LOSSES)}")
    self.num_classes = num_classes
    self.adapter = adapters.get_adapter(dataset)
    self.image_size = image_size
    self.mean, self.std = tuple(mean), tuple(std)
    self.flip, self.jitter = flip, jitter
    self.loss_name, self.dice_weight = loss, dice_weight
    self.adapter_options = dict(adapter_options or {})
    self.overlay_images = overlay_images

  # Host side: raw example -> model input.

  def _prepare(self, example: Mapping[str, Any], rng: Optional[np.random.Generator]) -> dict[str, np.ndarray]:
    adapted = self.adapter(dict(example), with_segmentation=True, **self.adapter_options)
    adapted.pop("captions", None)
    adapted = bt.to_float(adapted)
    if rng is not None:
      if self.jitter:
        adapted = bt.photometric_jitter(adapted, rng)
      if self.flip:
        adapted = bt.random_horizontal_flip(adapted, rng)
    adapted = bt.resize_and_pad(adapted, self.image_size)
    adapted = bt.normalize(adapted, self.mean, self.std)
    segmentation = adapted["segmentation"]
    bad = (segmentation >= self.num_classes) & (segmentation != IGNORE_INDEX)
    if bad.any():
      raise ValueError(f"segmentation of image_id {adapted.get('image_id')} has class "
                       f"{int(segmentation[bad].max())} outside [0, {self.num_classes}) (255 is ignore)")
    return {"image": adapted["image"].astype(np.float32), "segmentation": segmentation.astype(np.int32)}

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    return self._prepare(example, rng)

  def preprocess_eval(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return self._prepare(example, None)

  # Device side: pure functions, jit-compiled by the trainer.

  def _loss(self, logits: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
    loss = seg_losses.multiclass_loss(self.loss_name, logits, target, IGNORE_INDEX)
    if self.dice_weight:
      loss = loss + self.dice_weight * seg_losses.dice_loss(logits, target, "multiclass",
                                                            ignore_index=IGNORE_INDEX)
    return loss

  @staticmethod
  def _masks(outputs: Any) -> jnp.ndarray:
    """The mask logits of a model that may also return auxiliary labels: ``(masks, labels)``."""
    return outputs[0] if isinstance(outputs, tuple) else outputs

  def loss(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any], batch: Mapping[str, jnp.ndarray],
           rng: jax.Array) -> tuple[jnp.ndarray, tuple[dict[str, jnp.ndarray], dict[str, Any]]]:
    """Mean training loss of a batch -> ``(loss, (metrics, new_model_state))``."""
    mutable = [name for name in variables if name != "params"]
    outputs, new_model_state = apply_fn(variables, batch["image"], train=True, rngs={"dropout": rng},
                                        mutable=mutable)
    logits = self._masks(outputs)
    loss = self._loss(logits, batch["segmentation"])
    target = batch["segmentation"]
    valid = target != IGNORE_INDEX
    accuracy = jnp.sum((jnp.argmax(logits, -1) == target) & valid) / jnp.maximum(jnp.sum(valid), 1)
    return loss, ({"loss": loss, "pixel_accuracy": accuracy}, dict(new_model_state))

  def predict(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
              images: jnp.ndarray) -> jnp.ndarray:
    """Mask logits ``[B, H, W, num_classes]``."""
    return self._masks(apply_fn(variables, images, train=False))

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """The batch's confusion matrix over valid images and non-ignored pixels, and the summed loss."""
    logits = self.predict(apply_fn, variables, batch["image"])
    mask = batch["mask"]
    per_image_loss = jax.vmap(lambda l, t: self._loss(l[None], t[None]))(logits, batch["segmentation"])
    return {
        "confusion": confusion_matrix(jnp.argmax(logits, -1), batch["segmentation"], self.num_classes,
                                      mask=mask, ignore_index=IGNORE_INDEX),
        "loss": jnp.sum(per_image_loss * mask),
        "count": jnp.sum(mask.astype(jnp.float32)),
    }

  def make_evaluator(self) -> ConfusionMatrixEvaluator:
    return ConfusionMatrixEvaluator()

  def visualize(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                examples: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """A grid of (image, target overlay, predicted overlay) triples for raw ``examples`` -> uint8 picture."""
    prepared = [self.preprocess_eval(example) for example in list(examples)[:self.overlay_images]]
    images = np.stack([p["image"] for p in prepared])
    predicted = np.asarray(jnp.argmax(self.predict(apply_fn, variables, jnp.asarray(images)), -1))
    pictures = []
    for p, prediction in zip(prepared, predicted):
      picture = viz.to_uint8(p["image"], self.mean, self.std)
      pictures += [picture, viz.overlay_segmentation(picture, p["segmentation"].astype(np.int64)),
                   viz.overlay_segmentation(picture, prediction.astype(np.int64))]
    return viz.tile(pictures, columns=6)
