"""Classification augmentation as pure per-example numpy functions.

Each random function takes an explicit ``np.random.Generator`` so that a pipeline seeded per record (grain's
``random_map``) is deterministic and resumable. Images are ``[H, W, C]``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def to_float(image: np.ndarray) -> np.ndarray:
  """uint8 ``[H, W, C]`` in 0..255 -> float32 in [0, 1]. Any other dtype is an error."""
  if image.dtype != np.uint8:
    raise TypeError(f"to_float expects a uint8 image, got dtype {image.dtype}")
  return image.astype(np.float32) * np.float32(1.0 / 255.0)


def random_crop_with_padding(image: np.ndarray, padding: int, rng: np.random.Generator,
                             mode: str = "constant") -> np.ndarray:
  """Pads ``padding`` pixels on each side, then crops back to the input size at a random offset.

  The classic CIFAR augmentation (He et al. 2016, Sec. 4.2). ``mode`` is ``np.pad``'s mode.
  """
  if image.ndim != 3:
    raise ValueError(f"random_crop_with_padding expects [H, W, C], got shape {image.shape}")
  if padding < 0:
    raise ValueError(f"padding must be >= 0, got {padding}")
  if padding == 0:
    return image
  height, width = image.shape[:2]
  padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)), mode=mode)
  top, left = rng.integers(0, 2 * padding + 1, size=2)
  return padded[top:top + height, left:left + width]


def random_flip_left_right(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Mirrors the image horizontally with probability 1/2."""
  return image[:, ::-1] if rng.random() < 0.5 else image


def normalize(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
  """``(image - mean) / std`` per channel; ``mean``/``std`` have one value or one per channel."""
  mean = np.asarray(mean, np.float32)
  std = np.asarray(std, np.float32)
  if np.any(std <= 0):
    raise ValueError(f"std must be positive, got {std.tolist()}")
  if mean.size not in (1, image.shape[-1]) or std.size not in (1, image.shape[-1]):
    raise ValueError(f"mean/std need 1 or {image.shape[-1]} values, got {mean.size} and {std.size}")
  return (image - mean) / std


def crop_around_box(image: np.ndarray, box: Sequence[float], context: float = 0.5) -> np.ndarray:
  """The square window centred on ``box`` whose side is the box's longer side times ``1 + context``.

  ``box`` is (ymin, xmin, ymax, xmax) normalised to [0, 1] (TFDS ``BBoxFeature``). The window keeps its
  size and slides to stay inside the image (clipped to the image when larger than it), so the crop is an
  object-centred view with some background, as a photographer frames an object. Returns ``[s, s, C]``.
  """
  box = np.asarray(box, np.float64).reshape(-1)
  if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] < box[0] or box[3] < box[1]:
    raise ValueError(f"box must be one (ymin, xmin, ymax, xmax) with min <= max, got {box.tolist()}")
  if context < 0:
    raise ValueError(f"context must be >= 0, got {context}")
  height, width = image.shape[:2]
  side = max((box[2] - box[0]) * height, (box[3] - box[1]) * width) * (1.0 + context)
  side = int(min(max(round(side), 1), height, width))
  top = int(round((box[0] + box[2]) / 2 * height - side / 2))
  left = int(round((box[1] + box[3]) / 2 * width - side / 2))
  top, left = min(max(top, 0), height - side), min(max(left, 0), width - side)
  return image[top:top + side, left:left + side]
