"""Multi-label chest X-ray classification: a sigmoid per pathology, uncertain and missing labels, ROC AUC.

Images follow the torchxrayvision convention (``jvision.xray.preprocess``: one channel in [-1024, 1024]).
Training targets come from the dataset's 1/0/-1/NaN labels through a CheXpert uncertainty policy
(``jvision.losses.multilabel``); the loss is the masked binary cross-entropy averaged over the labelled
entries of the batch (U-MultiClass: a 3-way softmax per pathology, the model having ``3 * L`` outputs).
Evaluation reports per-pathology ROC AUC, mean AUC and mean PR AUC on ``eval_label_key`` (e.g. a dataset's
ground truth), where -1 and NaN labels are left out.

Where a dataset has finding masks (``evidence_mask_key``), ``evidence_weight`` > 0 adds the input-gradient
penalty of Ross et al., "Right for the Right Reasons: Training Differentiable Models by Constraining their
Explanations" (IJCAI 2017), made scale-free (``evidence_penalty``): for every image and pathology whose mask
is not empty, the share of the absolute gradient of that pathology's logit that falls on pixels outside its
mask (dilated by ``evidence_margin`` pixels), so that the classifier's evidence for a finding lies on the
finding. A classifier left to itself finds a bright disc by its contrast with the surroundings: its gradient
over the neighbourhood sums to about zero (``experiments/xray_explain.py`` prints this balance), so
explanations of it light up the surroundings as much as the finding.
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
    evidence_mask_key / evidence_weight / evidence_margin: the "right for the right reasons" penalty (module
      docstring) on the masks [H, W, L] under ``evidence_mask_key`` (0 or 1 per pixel and pathology, warped
      with the image), with weight ``evidence_weight`` (0: off, no masks read).
  """

  def __init__(self, pathologies: Sequence[str], image_key: str = "image", label_key: str = "labels",
               eval_label_key: Optional[str] = None, uncertainty_policy: str = "ignore",
               max_value: float = 255.0, image_size: int = 0, augment: bool = True,
               max_rotation: float = 8.0, max_translation: float = 0.05,
               scale_range: Sequence[float] = (0.92, 1.08), max_blur_sigma: float = 0.0,
               blur_probability: float = 0.5, evidence_mask_key: str = "finding_masks",
               evidence_weight: float = 0.0, evidence_margin: int = 1):
    if uncertainty_policy not in losses.POLICIES:
      raise ValueError(f"unknown uncertainty policy {uncertainty_policy!r}; known: {', '.join(losses.POLICIES)}")
    if not evidence_weight >= 0 or not isinstance(evidence_margin, int) or evidence_margin < 0:  # NaN fails too.
      raise ValueError(f"need evidence_weight >= 0 and evidence_margin a whole number of pixels >= 0; got "
                       f"{evidence_weight}, {evidence_margin!r}")
    if evidence_weight > 0 and uncertainty_policy == "multiclass":
      raise ValueError("evidence_weight > 0 needs one sigmoid logit per pathology; the 'multiclass' "
                       "uncertainty policy has three")
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
    self.evidence_mask_key = evidence_mask_key
    self.evidence_weight = evidence_weight
    self.evidence_margin = evidence_margin

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

  def _evidence_masks(self, example: Mapping[str, Any], image: np.ndarray) -> np.ndarray:
    if self.evidence_mask_key not in example:
      raise KeyError(f"evidence_weight > 0 needs finding masks under {self.evidence_mask_key!r}; the example "
                     f"has: {', '.join(example)}")
    masks = np.asarray(example[self.evidence_mask_key])
    if masks.shape != image.shape[:2] + (len(self.pathologies),):
      raise ValueError(f"{self.evidence_mask_key} has shape {masks.shape}; expected {image.shape[:2]} + "
                       f"({len(self.pathologies)},), one mask per pathology at the image's size")
    if not np.isin(masks, (0, 1)).all():
      raise ValueError(f"{self.evidence_mask_key} must hold 0 or 1; got values in [{masks.min()}, {masks.max()}]")
    return masks.astype(np.float32)

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    image = self._image(example)
    masks = [self._evidence_masks(example, image)] if self.evidence_weight > 0 else []
    if self.augment:
      image, masks = preprocess.random_affine(image, masks, rng=rng, max_rotation_degrees=self.max_rotation,
                                              max_translation=self.max_translation,
                                              scale_range=self.scale_range, fill=-preprocess.XRV_RANGE)
    if self.max_blur_sigma > 0:
      image = preprocess.random_blur(image, rng=rng, max_sigma=self.max_blur_sigma,
                                     probability=self.blur_probability)
    targets = losses.uncertainty_targets(self._labels(example, self.label_key), self.uncertainty_policy, rng)
    out = {"image": image, "targets": targets}
    if masks:
      out["evidence_masks"] = dilate_masks(masks[0], self.evidence_margin)
    return out

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
    forward = lambda images: apply_fn(variables, images, train=True, rngs={"dropout": rng}, mutable=mutable)
    if self.evidence_weight > 0:  # One forward pass serves the loss and the penalty's input gradients.
      logits, input_vjp, new_model_state = jax.vjp(forward, jnp.asarray(batch["image"], jnp.float32),
                                                   has_aux=True)
    else:
      logits, new_model_state = forward(batch["image"])
    if self.uncertainty_policy == "multiclass":
      per_label, valid = losses.masked_multiclass_ce(logits.reshape(logits.shape[0], -1, 3), batch["targets"])
    else:
      per_label, valid = losses.masked_sigmoid_bce(logits, batch["targets"])
    loss = jnp.sum(per_label) / jnp.maximum(jnp.sum(valid), 1.0)
    metrics = {"labelled_fraction": jnp.mean(valid)}
    if self.evidence_weight > 0:
      penalty = evidence_penalty(input_vjp, logits, batch["evidence_masks"])
      metrics["classification_loss"], metrics["evidence_penalty"] = loss, penalty
      loss = loss + self.evidence_weight * penalty
    return loss, ({"loss": loss, **metrics}, dict(new_model_state))

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    logits = apply_fn(variables, batch["image"], train=False)
    return {"scores": self.scores(logits), "labels": batch["labels"], "mask": batch["mask"]}

  def make_evaluator(self) -> MultiLabelAUCEvaluator:
    return MultiLabelAUCEvaluator(self.pathologies)


def dilate_masks(masks: np.ndarray, pixels: int) -> np.ndarray:
  """Binary masks [H, W, L] grown by ``pixels`` (3x3 cross steps, per channel; 0: unchanged), as float32."""
  from scipy import ndimage

  masks = np.asarray(masks) > 0.5
  if pixels > 0:
    structure = ndimage.generate_binary_structure(3, 1)
    structure[:, :, [0, 2]] = False  # Grow within each pathology's channel only.
    masks = ndimage.binary_dilation(masks, structure, iterations=pixels)
  return masks.astype(np.float32)


def evidence_penalty(input_vjp: Callable[[jnp.ndarray], tuple[jnp.ndarray]], logits: jnp.ndarray,
                     allowed: jnp.ndarray) -> jnp.ndarray:
  """The share of each logit's input gradient that lies outside its finding: a "right for the right reasons"
  penalty (Ross et al., IJCAI 2017) made scale-free.

  Ross et al. penalize the squared gradient outside the annotated region. A network can satisfy that by
  shrinking its input gradient everywhere, and the X-ray CNN trained with it here did just that: the share of
  its gradient outside the masks did not move. So this penalty is the share sum_outside |g| / sum |g| of the
  gradient g = d logit_l / dx, which no rescaling changes.

  Args:
    input_vjp: the model's vector-Jacobian product with respect to the images [B, H, W, C], as
      ``logits, input_vjp = jax.vjp(model, images)`` gives it (the forward pass is the loss's own).
    logits: [B, L], the model's output at those images.
    allowed: [B, H, W, L], 1 where pathology l's evidence may lie (its finding), 0 elsewhere; an all-zero
      mask (the finding is absent) leaves that pair out.

  Returns:
    The mean over the (image, pathology) pairs with a non-empty mask of the share of |d logit_l / dx| (summed
    over channels) outside the mask, in [0, 1]; 0 when no pair has a mask.
  """
  num_images, num_labels = allowed.shape[0], allowed.shape[-1]
  if logits.shape != (num_images, num_labels):
    raise ValueError(f"logits {logits.shape} do not match {num_labels} evidence masks for {num_images} images")
  # One backward pass per pathology: d(sum over the batch of logit_l)/dx. In training mode BatchNorm's batch
  # statistics couple the images a little; the gradient is still that of each image's own logit to first order.
  cotangents = jnp.eye(num_labels, dtype=logits.dtype)[:, None, :].repeat(num_images, axis=1)
  grads = jnp.sum(jnp.abs(jax.vmap(lambda c: input_vjp(c)[0])(cotangents)), axis=-1)  # [L, B, H, W]
  outside = 1.0 - jnp.moveaxis(allowed.astype(jnp.float32), -1, 0)  # [L, B, H, W]
  total = jnp.sum(grads, axis=(2, 3))
  share = jnp.sum(grads * outside, axis=(2, 3)) / jnp.maximum(total, jnp.finfo(jnp.float32).tiny)  # [L, B]
  present = (jnp.max(allowed, axis=(1, 2)) > 0).T.astype(jnp.float32)  # [L, B]
  return jnp.sum(share * present) / jnp.maximum(jnp.sum(present), 1.0)
