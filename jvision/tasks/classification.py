"""Image classification: integer labels, softmax cross-entropy, top-1/top-5 accuracy.

Evaluation is exact over padded batches: the jitted ``eval_outputs`` returns per-batch sums over the valid
examples, and the host-side evaluator adds them up and divides at the end.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision.data import box_transforms, transforms
from jvision.losses.classification import softmax_cross_entropy
from jvision.metrics.accumulators import SumEvaluator
from jvision.metrics.classification import topk_correct


def _feature(example: Mapping[str, Any], key: str) -> Any:
  """``example[key]``, where ``"a/b"`` is ``example["a"]["b"]`` (TFDS nests sequence features)."""
  if key in example:
    return example[key]
  value = example
  for part in key.split("/"):
    if not isinstance(value, Mapping) or part not in value:
      raise KeyError(f"example has no {key!r} key; it has: {', '.join(example)}")
    value = value[part]
  return value


class ClassificationTask:
  """Single-label classification.

  Args:
    num_classes: number of classes; labels outside ``[0, num_classes)`` are an error.
    image_key / label_key: keys of the raw dataset examples; ``"a/b"`` looks into nested features, and a
      one-element sequence counts as its element (``label_key="objects/label"`` reads ``shapes/single``).
    image_size: resize (bilinear) to ``image_size`` x ``image_size`` before augmentation (0: keep the size).
    channels: 3 repeats a grey image to RGB so an RGB backbone can read it (0: keep the channels).
    mean / std: per-channel normalization applied after scaling uint8 images to [0, 1].
    crop_padding: random-crop-with-padding augmentation in training (0: off).
    flip: random horizontal flips in training.
    label_smoothing: see ``softmax_cross_entropy``.
    box_key: if set (e.g. ``"objects/bbox"``), each image is first cropped to the square around its one box,
      enlarged by ``box_context`` (``transforms.crop_around_box``): object-centred views, as in ImageNet.
  """

  def __init__(self, num_classes: int, image_key: str = "image", label_key: str = "label",
               mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.25,), crop_padding: int = 0,
               flip: bool = False, label_smoothing: float = 0.0, image_size: int = 0, channels: int = 0,
               box_key: str = "", box_context: float = 0.5):
    if channels not in (0, 1, 3):
      raise ValueError(f"channels must be 0 (keep), 1 or 3, got {channels}")
    if box_context < 0:
      raise ValueError(f"box_context must be >= 0, got {box_context}")
    self.box_key = box_key
    self.box_context = box_context
    self.num_classes = num_classes
    self.image_size = image_size
    self.channels = channels
    self.image_key = image_key
    self.label_key = label_key
    self.mean = tuple(mean)
    self.std = tuple(std)
    self.crop_padding = crop_padding
    self.flip = flip
    self.label_smoothing = label_smoothing

  # Host side: raw example -> model input.

  def _common(self, example: Mapping[str, Any]) -> tuple[np.ndarray, np.int32]:
    label = np.asarray(_feature(example, self.label_key))
    if label.size != 1:
      raise ValueError(f"{self.label_key!r} holds {label.size} values; classification needs exactly one")
    label = int(label.reshape(()))
    if not 0 <= label < self.num_classes:
      raise ValueError(f"label {label} is outside [0, {self.num_classes})")
    image = transforms.to_float(np.asarray(_feature(example, self.image_key)))
    if self.box_key:
      boxes = np.asarray(_feature(example, self.box_key), np.float32).reshape(-1, 4)
      if len(boxes) != 1:
        raise ValueError(f"{self.box_key!r} holds {len(boxes)} boxes; cropping to the object needs exactly one")
      image = transforms.crop_around_box(image, boxes[0], self.box_context)
    if self.image_size and image.shape[:2] != (self.image_size, self.image_size):
      image = box_transforms.resize_image(image, self.image_size, self.image_size)
    if self.channels and image.shape[-1] != self.channels:
      if image.shape[-1] != 1:
        raise ValueError(f"cannot turn a {image.shape[-1]}-channel image into {self.channels} channels")
      image = np.repeat(image, self.channels, axis=-1)
    return image, np.int32(label)

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    image, label = self._common(example)
    image = transforms.random_crop_with_padding(image, self.crop_padding, rng)
    if self.flip:
      image = transforms.random_flip_left_right(image, rng)
    return {"image": transforms.normalize(image, self.mean, self.std), "label": label}

  def preprocess_eval(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    image, label = self._common(example)
    return {"image": transforms.normalize(image, self.mean, self.std), "label": label}

  # Device side: pure functions, jit-compiled by the trainer.

  def loss(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any], batch: Mapping[str, jnp.ndarray],
           rng: jax.Array) -> tuple[jnp.ndarray, tuple[dict[str, jnp.ndarray], dict[str, Any]]]:
    """Mean training loss of a batch -> ``(loss, (metrics, new_model_state))``."""
    mutable = [name for name in variables if name != "params"]
    logits, new_model_state = apply_fn(variables, batch["image"], train=True, rngs={"dropout": rng},
                                       mutable=mutable)
    loss = jnp.mean(softmax_cross_entropy(logits, batch["label"], self.label_smoothing))
    accuracy = jnp.mean(topk_correct(logits, batch["label"], 1))
    return loss, ({"loss": loss, "accuracy": accuracy}, dict(new_model_state))

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """Sums over the valid (``mask``) examples of a batch: loss, top-1 and top-5 hits, count."""
    logits = apply_fn(variables, batch["image"], train=False)
    mask = batch["mask"].astype(jnp.float32)
    per_example = {
        "loss": softmax_cross_entropy(logits, batch["label"]),
        "accuracy": topk_correct(logits, batch["label"], 1),
        "top5_accuracy": topk_correct(logits, batch["label"], min(5, self.num_classes)),
    }
    sums = {name: jnp.sum(value * mask) for name, value in per_example.items()}
    sums["count"] = jnp.sum(mask)
    return sums

  def make_evaluator(self) -> SumEvaluator:
    return SumEvaluator()
