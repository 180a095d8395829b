"""The torchxrayvision (XRV) image convention: single-channel float images in [-1024, 1024].

XRV models expect ``(2 * image / max_value - 1) * 1024`` where ``max_value`` is the largest value the
image's storage can hold (255 for 8-bit, 4095 for 12-bit, 65535 for 16-bit), one channel, center-cropped
to a square and resized to 224 (Cohen et al., "TorchXRayVision", MIDL 2022). Passing images in [0, 1] or
[0, 255] is the most reported mistake of its users, so ``xrv_normalize`` rejects an image brighter than its
declared ``max_value`` and ``check_xrv_range`` warns about a batch outside [-1024, 1024]. ``random_affine``
draws one rotation/scale/translation and applies it to the image and its masks alike.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

XRV_RANGE = 1024.0


class XrvRangeWarning(UserWarning):
  """A batch handed to an XRV model is outside [-1024, 1024]: probably not normalized with xrv_normalize."""


def xrv_normalize(image: np.ndarray, max_value: float) -> np.ndarray:
  """An 8/16-bit (or float) image [H, W] or [H, W, C] -> float32 [H, W, 1] in [-1024, 1024].

  Colour images are averaged over channels. An image whose maximum exceeds ``max_value`` (e.g. a 16-bit
  image declared as 8-bit) and negative or non-finite pixels are errors.
  """
  image = np.asarray(image)
  if image.ndim not in (2, 3):
    raise ValueError(f"xrv_normalize expects [H, W] or [H, W, C], got shape {image.shape}")
  if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
    raise TypeError(f"xrv_normalize expects an integer or float image, got dtype {image.dtype}")
  if max_value <= 0:
    raise ValueError(f"max_value must be positive, got {max_value}")
  image = image.astype(np.float32)
  if not np.isfinite(image).all():
    raise ValueError("image has NaN or infinite pixels")
  if image.max() > max_value:
    raise ValueError(f"image maximum {image.max():g} exceeds the declared max_value {max_value:g}; pass the "
                     f"storage maximum (255 for 8-bit, 65535 for 16-bit images)")
  if image.min() < 0:
    raise ValueError(f"image minimum {image.min():g} is negative; xrv_normalize expects raw pixel values")
  if image.ndim == 3:
    image = image.mean(axis=-1)
  return ((2.0 * image / np.float32(max_value) - 1.0) * XRV_RANGE)[..., None].astype(np.float32)


def check_xrv_range(batch, tolerance: float = 1e-3) -> None:
  """Warns (``XrvRangeWarning``) when ``batch`` has values outside [-1024, 1024]; NaN is an error."""
  batch = np.asarray(batch, np.float32)
  if np.isnan(batch).any():
    raise ValueError("batch has NaN pixels")
  low, high = float(batch.min()), float(batch.max())
  if low < -XRV_RANGE - tolerance or high > XRV_RANGE + tolerance:
    warnings.warn(f"batch values span [{low:g}, {high:g}], outside the XRV range [-1024, 1024]: normalize "
                  f"images with xrv_normalize(image, max_value)", XrvRangeWarning, stacklevel=2)


def center_crop(image: np.ndarray) -> np.ndarray:
  """The largest centred square of ``image`` [H, W, ...] -> [S, S, ...] with S = min(H, W)."""
  height, width = image.shape[:2]
  size = min(height, width)
  top, left = (height - size) // 2, (width - size) // 2
  return image[top:top + size, left:left + size]


def resize(image: np.ndarray, size: int = 224, order: int = 1) -> np.ndarray:
  """Resizes [H, W, C] to [size, size, C]; ``order`` 1 (bilinear) for images, 0 (nearest) for masks."""
  from skimage import transform

  if image.ndim != 3:
    raise ValueError(f"resize expects [H, W, C], got shape {image.shape}")
  out = transform.resize(image, (size, size, image.shape[2]), order=order, preserve_range=True,
                         anti_aliasing=order > 0 and min(image.shape[:2]) > size, mode="edge")
  return out.astype(image.dtype)


def xrv_preprocess(image: np.ndarray, max_value: float, size: int = 224) -> np.ndarray:
  """``xrv_normalize``, ``center_crop`` and ``resize``: a raw image -> float32 [size, size, 1]."""
  return resize(center_crop(xrv_normalize(image, max_value)), size)


def random_affine(image: np.ndarray, masks: Sequence[np.ndarray] = (), *, rng: np.random.Generator,
                  max_rotation_degrees: float = 10.0, max_translation: float = 0.05,
                  scale_range: tuple[float, float] = (0.9, 1.1),
                  fill: Optional[float] = None) -> tuple[np.ndarray, list[np.ndarray]]:
  """One random rotation, scale and translation (fractions of the size) about the centre, applied to
  ``image`` [H, W, C] (bilinear) and to each mask [H, W, K] (nearest, so labels stay labels).

  Pixels brought in from outside are ``fill`` (default: the image minimum) for the image and 0 for masks.
  """
  from skimage import transform

  height, width = image.shape[:2]
  for mask in masks:
    if mask.shape[:2] != (height, width):
      raise ValueError(f"mask shape {mask.shape} does not match image shape {image.shape}")
  angle = np.deg2rad(rng.uniform(-max_rotation_degrees, max_rotation_degrees))
  scale = rng.uniform(*scale_range)
  shift = rng.uniform(-max_translation, max_translation, size=2) * (width, height)
  centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
  # Output pixel x comes from input pixel inverse(x); the forward map scales and rotates about the centre.
  forward = (transform.AffineTransform(translation=-centre)
             + transform.AffineTransform(scale=scale, rotation=angle)
             + transform.AffineTransform(translation=centre + shift))
  fill = float(image.min()) if fill is None else fill

  def warp(array, order, cval):
    out = transform.warp(array.astype(np.float32), forward.inverse, order=order, cval=cval,
                         preserve_range=True, mode="constant")
    return out.astype(array.dtype)

  return warp(image, 1, fill), [warp(mask, 0, 0.0) for mask in masks]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
  """``image`` [H, W, C] blurred by a Gaussian of ``sigma`` pixels, each channel on its own (edges
  reflected), in the image's dtype."""
  from scipy import ndimage

  if image.ndim != 3:
    raise ValueError(f"gaussian_blur expects an image [H, W, C]; got shape {image.shape}")
  return ndimage.gaussian_filter(image, (sigma, sigma, 0), mode="reflect").astype(image.dtype)


def random_blur(image: np.ndarray, *, rng: np.random.Generator, max_sigma: float,
                probability: float = 0.5) -> np.ndarray:
  """With ``probability``, a Gaussian blur of ``image`` [H, W, C] (each channel; sigma uniform in
  (0, ``max_sigma``] pixels, edges reflected); else ``image`` unchanged.

  A classifier trained with it does not rely on the finest detail (sensor noise, the sharpest edges), so its
  scores hold on smooth images such as an autoencoder's reconstructions (``jvision.xray.explain``).
  """
  if not max_sigma >= 0 or not 0.0 <= probability <= 1.0:  # Written so that NaN fails too.
    raise ValueError(f"need max_sigma >= 0 and probability in [0, 1]; got {max_sigma}, {probability}")
  if image.ndim != 3:
    raise ValueError(f"random_blur expects an image [H, W, C]; got shape {image.shape}")
  if max_sigma == 0 or rng.random() >= probability:
    return image
  return gaussian_blur(image, max_sigma * (1.0 - rng.random()))  # sigma in (0, max_sigma].
