"""Perceptual losses of neural style transfer (Gatys, Ecker & Bethge, "Image Style Transfer Using
Convolutional Neural Networks", CVPR 2016; Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style
Transfer and Super-Resolution", ECCV 2016).

Features are ``[B, H, W, C]`` maps of one network layer; every loss returns one value per example, ``[B]``,
so that a batch of independent problems can share one call.

Gram normalization (``gram_matrix(..., normalization=...)``), with ``M = H * W`` positions and ``N = C``:
  - ``"none"``: ``G = F^T F`` as in Gatys et al. (Eq. 3);
  - ``"positions"``: ``G / M``, a per-position average, independent of the image size;
  - ``"all"``: ``G / (N * M)`` as in Johnson et al. and the PyTorch tutorial (the default).
``style_layer_loss`` is the mean over the ``N x N`` entries of ``(G - A)^2``; so Gatys's
``E_l = ||G - A||^2 / (4 N^2 M^2)`` is ``style_layer_loss / 4`` with ``normalization="positions"``.
``content_loss`` is the mean squared difference (``reduction="mean"``) or Gatys's ``0.5 * sum``
(``reduction="sum"``).
"""

from __future__ import annotations

from typing import Mapping, Optional

import jax.numpy as jnp

GRAM_NORMALIZATIONS = ("none", "positions", "all")


def _check_features(features: jnp.ndarray, name: str) -> None:
  if features.ndim != 4:
    raise ValueError(f"{name} must be [B, H, W, C] feature maps; got shape {tuple(features.shape)}")
  if not jnp.issubdtype(features.dtype, jnp.floating):
    raise ValueError(f"{name} must be floating point; got dtype {features.dtype}")


def gram_matrix(features: jnp.ndarray, normalization: str = "all") -> jnp.ndarray:
  """Channel correlations ``[B, H, W, C] -> [B, C, C]``, in float32 (see the module docstring)."""
  _check_features(features, "features")
  if normalization not in GRAM_NORMALIZATIONS:
    raise ValueError(f"unknown Gram normalization {normalization!r}; known: {', '.join(GRAM_NORMALIZATIONS)}")
  batch, height, width, channels = features.shape
  flat = jnp.asarray(features, jnp.float32).reshape(batch, height * width, channels)
  gram = jnp.einsum("bmi,bmj->bij", flat, flat)
  divisor = {"none": 1.0, "positions": float(height * width), "all": float(height * width * channels)}
  return gram / divisor[normalization]


def content_loss(features: jnp.ndarray, target: jnp.ndarray, reduction: str = "mean") -> jnp.ndarray:
  """Distance of ``features`` to the content representation ``target`` (both ``[B, H, W, C]``) -> ``[B]``."""
  _check_features(features, "features")
  if features.shape != target.shape:
    raise ValueError(f"features {tuple(features.shape)} and content target {tuple(target.shape)} differ")
  squared = jnp.square(jnp.asarray(features, jnp.float32) - jnp.asarray(target, jnp.float32))
  if reduction == "mean":
    return jnp.mean(squared, axis=(1, 2, 3))
  if reduction == "sum":
    return 0.5 * jnp.sum(squared, axis=(1, 2, 3))
  raise ValueError(f"unknown content loss reduction {reduction!r}; known: mean, sum")


def style_layer_loss(gram: jnp.ndarray, target_gram: jnp.ndarray) -> jnp.ndarray:
  """Mean squared difference of Gram matrices ``[B, C, C]`` -> ``[B]``."""
  if gram.ndim != 3 or gram.shape[1] != gram.shape[2]:
    raise ValueError(f"a Gram matrix must be [B, C, C]; got shape {tuple(gram.shape)}")
  if target_gram.shape[-2:] != gram.shape[-2:]:
    raise ValueError(f"Gram {tuple(gram.shape)} and style target {tuple(target_gram.shape)} differ")
  return jnp.mean(jnp.square(gram - target_gram), axis=(-2, -1))


def style_loss(features: Mapping[str, jnp.ndarray], target_grams: Mapping[str, jnp.ndarray],
               layer_weights: Optional[Mapping[str, float]] = None,
               normalization: str = "all") -> jnp.ndarray:
  """Weighted sum over layers of ``style_layer_loss`` -> ``[B]``.

  Args:
    features: layer name -> ``[B, H, W, C]`` features of the image being optimized.
    target_grams: layer name -> ``[B, C, C]`` (or ``[1, C, C]``, broadcast) Gram matrices of the style image;
      its keys are the style layers.
    layer_weights: layer name -> weight (the ``w_l`` of Gatys et al.); default ``1 / num_layers`` each.
    normalization: the Gram normalization of ``target_grams``.
  """
  layers = list(target_grams)
  if not layers:
    raise ValueError("style_loss needs at least one style layer")
  missing = [name for name in layers if name not in features]
  if missing:
    raise KeyError(f"no features for style layers {missing}; have: {', '.join(features)}")
  if layer_weights is None:
    layer_weights = {name: 1.0 / len(layers) for name in layers}
  unknown = [name for name in layer_weights if name not in target_grams]
  if unknown:
    raise KeyError(f"style layer weights for layers without a target: {unknown}")
  total = 0.0
  for name in layers:
    gram = gram_matrix(features[name], normalization)
    total = total + layer_weights.get(name, 0.0) * style_layer_loss(gram, target_grams[name])
  return total


def total_variation(images: jnp.ndarray, power: float = 2.0) -> jnp.ndarray:
  """Mean over neighbouring-pixel differences of ``|d|^power`` (horizontal plus vertical), ``[B, H, W, C]``
  -> ``[B]``. ``power=2`` is the smooth version used by Johnson et al.; ``power=1`` the anisotropic TV norm."""
  _check_features(images, "images")
  if power <= 0:
    raise ValueError(f"total variation power must be positive; got {power}")
  images = jnp.asarray(images, jnp.float32)
  down = jnp.abs(images[:, 1:] - images[:, :-1]) ** power
  right = jnp.abs(images[:, :, 1:] - images[:, :, :-1]) ** power
  return jnp.mean(down, axis=(1, 2, 3)) + jnp.mean(right, axis=(1, 2, 3))
