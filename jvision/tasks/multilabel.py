"""Multi-label chest X-ray classification: a sigmoid per pathology, uncertain and missing labels, ROC AUC.

Images follow the torchxrayvision convention (``jvision.xray.preprocess``: one channel in [-1024, 1024]).
Training targets come from the dataset's 1/0/-1/NaN labels through a CheXpert uncertainty policy
(``jvision.losses.multilabel``); the loss is the masked binary cross-entropy averaged over the labelled
entries of the batch (U-MultiClass: a 3-way softmax per pathology, the model having ``3 * L`` outputs).
Evaluation reports per-pathology ROC AUC, mean AUC and mean PR AUC on ``eval_label_key`` (e.g. a dataset's
ground truth), where -1 and NaN labels are left out.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision.losses import multilabel as losses
from jvision.metrics.multilabel import MultiLabelAUCEvaluator
from jvision.xray import preprocess


class MultiLabelTask:
  """Args:
    pathologies: names of the L labels (the model has L outputs, 3 * L with ``multiclass``).
    label_key / eval_label_key: example keys of the training labels (1/0/-1/NaN) and of the labels
      evaluated (default: the same).
    uncertainty_policy: one of ``losses.multilabel.POLICIES``.
    max_value: the images' storage maximum (255 for uint8) for ``xrv_normalize``.
    image_size: center crop and resize to this size (0: keep the stored size).
    augment: one ``random_affine`` draw per training image (rotation <= ``max_rotation`` degrees,
      translation <= ``max_translation``, scale in ``scale_range``).
    max_blur_sigma / blur_probability: in training, a Gaussian blur (sigma up to ``max_blur_sigma`` pixels)
      of a ``blur_probability`` share of the images (``preprocess.random_blur``; 0: off), so that scores do
      not hinge on the finest detail and hold on an autoencoder's smooth reconstructions.
  """

  def __init__(self, pathologies: Sequence[str], image_key: str = "image", label_key: str = "labels",
               eval_label_key: Optional[str] = None, uncertainty_policy: str = "ignore",
               max_value: float = 255.0, image_size: int = 0, augment: bool = True,
               max_rotation: float = 8.0, max_translation: float = 0.05,
               scale_range: Sequence[float] = (0.92, 1.08), max_blur_sigma: float = 0.0,
               blur_probability: float = 0.5):
    if uncertainty_policy not in losses.POLICIES:
      raise ValueError(f"unknown uncertainty policy {uncertainty_policy!r}; known: {', '.join(losses.POLICIES)}")
    self.pathologies = tuple(pathologies)
    self.image_key = image_key
    self.label_key = label_key
    self.eval_label_key = eval_label_key or label_key
    self.uncertainty_policy = uncertainty_policy
    self.max_value = max_value
    self.image_size = image_size
    self.augment = augment
    self.max_rotation = max_rotation
    self.max_translation = max_translation
    self.scale_range = tuple(scale_range)
    if not max_blur_sigma >= 0 or not 0.0 <= blur_probability <= 1.0:  # NaN fails too.
      raise ValueError(f"need max_blur_sigma >= 0 and blur_probability in [0, 1]; got {max_blur_sigma}, "
                       f"{blur_probability}")
    self.max_blur_sigma = max_blur_sigma
    self.blur_probability = blur_probability

  @property
  def num_outputs(self) -> int:
    return len(self.pathologies) * (3 if self.uncertainty_policy == "multiclass" else 1)

  # Host side.

  def _image(self, example: Mapping[str, Any]) -> np.ndarray:
    if self.image_key not in example:
      raise KeyError(f"example has no {self.image_key!r} key; it has: {', '.join(example)}")
    image = preprocess.xrv_normalize(np.asarray(example[self.image_key]), self.max_value)
    if self.image_size:
      image = preprocess.resize(preprocess.center_crop(image), self.image_size)
    return image

  def _labels(self, example: Mapping[str, Any], key: str) -> np.ndarray:
    if key not in example:
      raise KeyError(f"example has no {key!r} key; it has: {', '.join(example)}")
    labels = np.asarray(example[key], np.float32).reshape(-1)
    if labels.shape != (len(self.pathologies),):
      raise ValueError(f"{key} has {labels.size} values; expected {len(self.pathologies)} ({self.pathologies})")
    return labels

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    image = self._image(example)
    if self.augment:
      image, _ = preprocess.random_affine(image, rng=rng, max_rotation_degrees=self.max_rotation,
                                          max_translation=self.max_translation, scale_range=self.scale_range,
                                          fill=-preprocess.XRV_RANGE)
    if self.max_blur_sigma > 0:
      image = preprocess.random_blur(image, rng=rng, max_sigma=self.max_blur_sigma,
                                     probability=self.blur_probability)
    targets = losses.uncertainty_targets(self._labels(example, self.label_key), self.uncertainty_policy, rng)
    return {"image": image, "targets": targets}

  def preprocess_eval(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    labels = self._labels(example, self.eval_label_key).copy()
    labels[labels == -1] = np.nan  # Uncertain labels are not scored.
    return {"image": self._image(example), "labels": labels}

  # Device side.

  def scores(self, logits: jnp.ndarray) -> jnp.ndarray:
    """Model outputs [B, num_outputs] -> P(positive) [B, L]."""
    if self.uncertainty_policy == "multiclass":
      return losses.multiclass_positive_probability(logits.reshape(logits.shape[0], -1, 3))
    return jax.nn.sigmoid(logits.astype(jnp.float32))

  def loss(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any], batch: Mapping[str, jnp.ndarray],
           rng: jax.Array) -> tuple[jnp.ndarray, tuple[dict[str, jnp.ndarray], dict[str, Any]]]:
    mutable = [name for name in variables if name != "params"]
    logits, new_model_state = apply_fn(variables, batch["image"], train=True, rngs={"dropout": rng},
                                       mutable=mutable)
    if self.uncertainty_policy == "multiclass":
      per_label, valid = losses.masked_multiclass_ce(logits.reshape(logits.shape[0], -1, 3), batch["targets"])
    else:
      per_label, valid = losses.masked_sigmoid_bce(logits, batch["targets"])
    loss = jnp.sum(per_label) / jnp.maximum(jnp.sum(valid), 1.0)
    return loss, ({"loss": loss, "labelled_fraction": jnp.mean(valid)}, dict(new_model_state))

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    logits = apply_fn(variables, batch["image"], train=False)
    return {"scores": self.scores(logits), "labels": batch["labels"], "mask": batch["mask"]}

  def make_evaluator(self) -> MultiLabelAUCEvaluator:
    return MultiLabelAUCEvaluator(self.pathologies)
