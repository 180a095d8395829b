"""CLIP's image preprocessing (Radford et al. 2021; OpenAI ``clip.load``'s transform) as a numpy function.

Resize the shorter side to ``size`` with bicubic interpolation (PIL), centre-crop ``size x size``, scale to
[0, 1], subtract CLIP's per-channel mean and divide by its std (statistics of its training images).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resize_center_crop(image: np.ndarray, size: int) -> np.ndarray:
  """uint8 ``[H, W, 3]`` -> uint8 ``[size, size, 3]``: bicubic resize of the shorter side, centre crop."""
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
    raise ValueError(f"resize_center_crop expects a uint8 [H, W, 3] image; got {image.dtype} {image.shape}")
  if size <= 0:
    raise ValueError(f"size must be positive, got {size}")
  height, width = image.shape[:2]
  if min(height, width) != size:
    scale = size / min(height, width)
    # Rounded as torchvision's Resize(int) does: the shorter side is exactly ``size``.
    new_h, new_w = (size, int(width * scale)) if height <= width else (int(height * scale), size)
    image = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BICUBIC))
  top = int(round((image.shape[0] - size) / 2.0))
  left = int(round((image.shape[1] - size) / 2.0))
  return image[top:top + size, left:left + size]


def clip_preprocess(image: np.ndarray, size: int = 224) -> np.ndarray:
  """uint8 ``[H, W, 3]`` -> float32 ``[size, size, 3]`` normalized with CLIP's mean and std."""
  image = resize_center_crop(image, size).astype(np.float32) / 255.0
  return (image - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32)
