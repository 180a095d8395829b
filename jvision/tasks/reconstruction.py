"""Image reconstruction (autoencoder training) on single-channel X-rays: mean squared error, PSNR.

The model maps XRV-range images ``[B, H, W, 1]`` (``jvision.xray.preprocess``: [-1024, 1024]) to
reconstructions of the same shape; the loss is the mean squared error on images scaled to [-1, 1]
(``x / 1024``), optionally plus ``l1_weight`` times the mean absolute error (sharper edges than MSE alone).
Evaluation reports ``mse`` and ``mae`` (scaled units) and ``psnr`` (dB, peak-to-peak range 2) per image,
averaged over the eval split. Used to train ``jvision.models.xray_autoencoder`` for Latent Shift
explanations (``jvision.xray.explain``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision.metrics.accumulators import SumEvaluator
from jvision.xray import preprocess


class ReconstructionTask:
  """Args:
    image_key: the example key of the image (uint8/uint16 [H, W] or [H, W, C]).
    max_value: the images' storage maximum (255 for uint8) for ``xrv_normalize``.
    image_size: center crop and resize to this size (0: keep the stored size).
    augment: one ``random_affine`` draw per training image (rotation <= ``max_rotation`` degrees,
      translation <= ``max_translation``, scale in ``scale_range``).
    l1_weight: weight of the mean absolute error added to the mean squared error.
  """

  def __init__(self, image_key: str = "image", max_value: float = 255.0, image_size: int = 0,
               augment: bool = True, max_rotation: float = 5.0, max_translation: float = 0.03,
               scale_range: Sequence[float] = (0.95, 1.05), l1_weight: float = 0.0):
    if l1_weight < 0:
      raise ValueError(f"l1_weight must be >= 0; got {l1_weight}")
    self.image_key = image_key
    self.max_value = max_value
    self.image_size = image_size
    self.augment = augment
    self.max_rotation = max_rotation
    self.max_translation = max_translation
    self.scale_range = tuple(scale_range)
    self.l1_weight = l1_weight

  # Host side.

  def _image(self, example: Mapping[str, Any]) -> np.ndarray:
    if self.image_key not in example:
      raise KeyError(f"example has no {self.image_key!r} key; it has: {', '.join(example)}")
    image = preprocess.xrv_normalize(np.asarray(example[self.image_key]), self.max_value)
    if self.image_size:
      image = preprocess.resize(preprocess.center_crop(image), self.image_size)
    return image

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    image = self._image(example)
    if self.augment:
      image, _ = preprocess.random_affine(image, rng=rng, max_rotation_degrees=self.max_rotation,
                                          max_translation=self.max_translation, scale_range=self.scale_range,
                                          fill=-preprocess.XRV_RANGE)
    return {"image": image}

  def preprocess_eval(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {"image": self._image(example)}

  # Device side.

  def per_image_errors(self, reconstructions: jnp.ndarray, images: jnp.ndarray) -> dict[str, jnp.ndarray]:
    """``mse``, ``mae`` [B] on images scaled by 1/1024, and ``psnr`` [B] in dB for a peak-to-peak range of 2."""
    if reconstructions.shape != images.shape:
      raise ValueError(f"reconstructions {reconstructions.shape} and images {images.shape} differ in shape")
    diff = (reconstructions.astype(jnp.float32) - images.astype(jnp.float32)) / preprocess.XRV_RANGE
    axes = tuple(range(1, diff.ndim))
    mse = jnp.mean(diff**2, axis=axes)
    return {"mse": mse, "mae": jnp.mean(jnp.abs(diff), axis=axes),
            "psnr": 10.0 * jnp.log10(4.0 / jnp.maximum(mse, 1e-12))}

  def loss(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any], batch: Mapping[str, jnp.ndarray],
           rng: jax.Array) -> tuple[jnp.ndarray, tuple[dict[str, jnp.ndarray], dict[str, Any]]]:
    mutable = [name for name in variables if name != "params"]
    out = apply_fn(variables, batch["image"], train=True, rngs={"dropout": rng}, mutable=mutable)
    reconstructions, new_model_state = out
    errors = self.per_image_errors(reconstructions, batch["image"])
    loss = jnp.mean(errors["mse"]) + self.l1_weight * jnp.mean(errors["mae"])
    return loss, ({"loss": loss, "mse": jnp.mean(errors["mse"]), "psnr": jnp.mean(errors["psnr"])},
                  dict(new_model_state))

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    errors = self.per_image_errors(apply_fn(variables, batch["image"], train=False), batch["image"])
    mask = batch["mask"].astype(jnp.float32)
    return {**{name: jnp.sum(value * mask) for name, value in errors.items()}, "count": jnp.sum(mask)}

  def make_evaluator(self) -> SumEvaluator:
    return SumEvaluator()
