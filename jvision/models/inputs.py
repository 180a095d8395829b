"""Checks shared by every model's ``__call__``: a wrong input fails loudly before any computation."""

from __future__ import annotations

import jax.numpy as jnp


def check_images(images: jnp.ndarray, model_name: str, min_size: int = 1) -> None:
  """Raises ValueError unless ``images`` is a float ``[B, H, W, C]`` batch at least ``min_size`` pixels wide."""
  if images.ndim != 4:
    raise ValueError(
        f"{model_name} expects NHWC images [B, H, W, C]; got an array of shape {tuple(images.shape)}")
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(
        f"{model_name} expects floating-point images; got dtype {images.dtype} "
        "(convert with images.astype(jnp.float32) and apply the preprocessing of the weights' source)")
  if min(images.shape[1], images.shape[2]) < min_size:
    raise ValueError(
        f"{model_name} needs images of at least {min_size}x{min_size} pixels; got {tuple(images.shape)}")
