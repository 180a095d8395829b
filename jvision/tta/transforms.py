"""Test-time augmentation transforms with their inverses (the transform set of ttach, in JAX).

A transform holds a tuple of parameters, the identity always among them (no flip, 0 degrees, scale 1, add 0,
multiply 1), and knows how to augment an image batch and how to map a prediction made on the augmented
image back: masks ``[B, h, w, C]``, keypoints ``[B, K, 2]`` as (x, y) in [0, 1] of the image width and
height, boxes ``[B, N, 4]`` as (x1, y1, x2, y2) in [0, 1]. Class scores need no inverse.

Shape-preserving transforms (flips, Rotate90 on square images, Add, Multiply, FiveCrops) are *traced*: their
parameter is an array, so all of their augmentations run under one ``jax.vmap``. Transforms that change the
image size (Scale, Resize) are *static*: each of their parameters is a separate shape inside the same jit.
``Compose`` takes the product of the parameter lists and groups it by the static part.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp


class Transform:
  """One augmentation family. Subclasses set ``params`` (identity first) and override what they change."""
  params: tuple = ()
  static: bool = False  # True: parameters change the image shape and are Python values at trace time.
  supports_masks = supports_keypoints = supports_boxes = True

  def augment_image(self, images, p):
    """[B, H, W, C] -> augmented [B, H', W', C]."""
    raise NotImplementedError

  def deaugment_mask(self, masks, p, size):
    """Prediction on the augmented image [B, h', w', C] -> [B, *size, C] aligned with the original."""
    del p, size
    return masks

  def deaugment_keypoints(self, keypoints, p):
    """[B, K, 2] (x, y) in [0, 1] of the augmented image -> same of the original image."""
    del p
    return keypoints

  def deaugment_boxes(self, boxes, p):
    """[B, N, 4] (x1, y1, x2, y2) in [0, 1] of the augmented image -> same of the original image."""
    del p
    return boxes


def _with_identity(values: Sequence[Any], identity: Any) -> tuple:
  values = tuple(values)
  return (identity,) + tuple(v for v in values if v != identity)


@dataclasses.dataclass(frozen=True)
class HorizontalFlip(Transform):
  """Mirror left-right. Parameters: 0 (identity), 1 (flip)."""
  params: tuple = (0, 1)

  def augment_image(self, images, p):
    return jnp.where(p, images[:, :, ::-1], images)

  def deaugment_mask(self, masks, p, size):
    return jnp.where(p, masks[:, :, ::-1], masks)

  def deaugment_keypoints(self, keypoints, p):
    return jnp.where(p, keypoints.at[..., 0].set(1.0 - keypoints[..., 0]), keypoints)

  def deaugment_boxes(self, boxes, p):
    flipped = jnp.stack([1.0 - boxes[..., 2], boxes[..., 1], 1.0 - boxes[..., 0], boxes[..., 3]], -1)
    return jnp.where(p, flipped, boxes)


@dataclasses.dataclass(frozen=True)
class VerticalFlip(Transform):
  """Mirror top-bottom. Parameters: 0 (identity), 1 (flip)."""
  params: tuple = (0, 1)

  def augment_image(self, images, p):
    return jnp.where(p, images[:, ::-1], images)

  def deaugment_mask(self, masks, p, size):
    return jnp.where(p, masks[:, ::-1], masks)

  def deaugment_keypoints(self, keypoints, p):
    return jnp.where(p, keypoints.at[..., 1].set(1.0 - keypoints[..., 1]), keypoints)

  def deaugment_boxes(self, boxes, p):
    flipped = jnp.stack([boxes[..., 0], 1.0 - boxes[..., 3], boxes[..., 2], 1.0 - boxes[..., 1]], -1)
    return jnp.where(p, flipped, boxes)


def _rotate(x, k, turns: Sequence[int]):
  """Rotates [B, H, W, ...] by k quarter turns counter-clockwise (row 0 at the top); ``k`` may be traced and
  is one of ``turns``, so that only those rotations are compiled (a non-square image allows 0 and 2 only)."""
  turns = sorted({t % 4 for t in turns})
  if len(turns) == 1:
    return jnp.rot90(x, turns[0], axes=(1, 2))
  index = sum(jnp.where(k % 4 == t, i, 0) for i, t in enumerate(turns))
  return jax.lax.switch(index, [lambda x, t=t: jnp.rot90(x, t, axes=(1, 2)) for t in turns], x)


def _unrotate_points(x, y, k):
  """Undo k counter-clockwise quarter turns on normalized points. One turn maps (x, y) -> (y, 1 - x)."""
  candidates = [(x, y), (1.0 - y, x), (1.0 - x, 1.0 - y), (y, 1.0 - x)]
  k = k % 4
  return (jnp.select([k == i for i in range(4)], [c[0] for c in candidates]),
          jnp.select([k == i for i in range(4)], [c[1] for c in candidates]))


@dataclasses.dataclass(frozen=True, init=False)
class Rotate90(Transform):
  """Rotation by multiples of 90 degrees, counter-clockwise. Square images only for 90 and 270."""
  params: tuple = (0, 90, 180, 270)

  def __init__(self, angles: Sequence[int] = (0, 90, 180, 270)):
    bad = [a for a in angles if a % 90]
    if bad:
      raise ValueError(f"Rotate90 angles must be multiples of 90; got {bad}")
    object.__setattr__(self, "params", _with_identity([a % 360 for a in angles], 0))

  def augment_image(self, images, p):
    if images.shape[1] != images.shape[2] and any(a % 180 for a in self.params):
      raise ValueError(f"Rotate90 by 90/270 degrees needs square images; got {tuple(images.shape)}")
    return _rotate(images, p // 90, [a // 90 for a in self.params])

  def deaugment_mask(self, masks, p, size):
    return _rotate(masks, -(p // 90), [-(a // 90) for a in self.params])

  def deaugment_keypoints(self, keypoints, p):
    x, y = _unrotate_points(keypoints[..., 0], keypoints[..., 1], p // 90)
    return jnp.stack([x, y], -1)

  def deaugment_boxes(self, boxes, p):
    xa, ya = _unrotate_points(boxes[..., 0], boxes[..., 1], p // 90)
    xb, yb = _unrotate_points(boxes[..., 2], boxes[..., 3], p // 90)
    return jnp.stack([jnp.minimum(xa, xb), jnp.minimum(ya, yb), jnp.maximum(xa, xb), jnp.maximum(ya, yb)], -1)


def _resize(x, size, method):
  return jax.image.resize(x, (x.shape[0], *size, *x.shape[3:]), method=method)


@dataclasses.dataclass(frozen=True, init=False)
class Scale(Transform):
  """Rescale the image by each factor (output masks are resized back). Normalized coordinates are unchanged."""
  params: tuple = (1.0,)
  interpolation: str = "linear"
  static = True

  def __init__(self, scales: Sequence[float], interpolation: str = "linear"):
    if any(s <= 0 for s in scales):
      raise ValueError(f"Scale factors must be positive; got {tuple(scales)}")
    object.__setattr__(self, "params", _with_identity([float(s) for s in scales], 1.0))
    object.__setattr__(self, "interpolation", interpolation)

  def augment_image(self, images, p):
    if p == 1.0:
      return images
    size = (max(1, round(images.shape[1] * p)), max(1, round(images.shape[2] * p)))
    return _resize(images, size, self.interpolation)

  def deaugment_mask(self, masks, p, size):
    return masks if tuple(masks.shape[1:3]) == tuple(size) else _resize(masks, size, self.interpolation)


@dataclasses.dataclass(frozen=True, init=False)
class Resize(Transform):
  """Resize the image to each (height, width); ``None`` (the identity) keeps the original size."""
  params: tuple = (None,)
  interpolation: str = "linear"
  static = True

  def __init__(self, sizes: Sequence[Sequence[int]], interpolation: str = "linear"):
    object.__setattr__(self, "params", _with_identity([tuple(s) for s in sizes], None))
    object.__setattr__(self, "interpolation", interpolation)

  def augment_image(self, images, p):
    return images if p is None else _resize(images, p, self.interpolation)

  def deaugment_mask(self, masks, p, size):
    return masks if tuple(masks.shape[1:3]) == tuple(size) else _resize(masks, size, self.interpolation)


@dataclasses.dataclass(frozen=True, init=False)
class Add(Transform):
  """Add a constant to every pixel (brightness). Predictions need no inverse."""
  params: tuple = (0.0,)

  def __init__(self, values: Sequence[float]):
    object.__setattr__(self, "params", _with_identity([float(v) for v in values], 0.0))

  def augment_image(self, images, p):
    return images + jnp.asarray(p, images.dtype)


@dataclasses.dataclass(frozen=True, init=False)
class Multiply(Transform):
  """Multiply every pixel by a factor (contrast). Predictions need no inverse."""
  params: tuple = (1.0,)

  def __init__(self, factors: Sequence[float]):
    object.__setattr__(self, "params", _with_identity([float(v) for v in factors], 1.0))

  def augment_image(self, images, p):
    return images * jnp.asarray(p, images.dtype)


@dataclasses.dataclass(frozen=True)
class FiveCrops(Transform):
  """The four corner crops and the center crop (parameters 0..4: top-left, top-right, bottom-left,
  bottom-right, center). No identity exists, and no inverse for masks, keypoints or boxes: classification only.
  """
  crop_height: int = 224
  crop_width: int = 224
  params: tuple = (0, 1, 2, 3, 4)
  supports_masks = supports_keypoints = supports_boxes = False

  def augment_image(self, images, p):
    h, w = images.shape[1:3]
    ch, cw = self.crop_height, self.crop_width
    if ch > h or cw > w:
      raise ValueError(f"FiveCrops of {ch}x{cw} do not fit images of {h}x{w}")
    tops = jnp.array([0, 0, h - ch, h - ch, (h - ch) // 2])
    lefts = jnp.array([0, w - cw, 0, w - cw, (w - cw) // 2])
    return jax.lax.dynamic_slice(images, (0, tops[p], lefts[p], 0), (images.shape[0], ch, cw, images.shape[3]))


@dataclasses.dataclass(frozen=True, init=False)
class Compose:
  """The product of several transforms' parameters; augments in order and de-augments in reverse."""
  transforms: tuple

  def __init__(self, transforms: Sequence[Transform]):
    object.__setattr__(self, "transforms", tuple(transforms))

  def __len__(self) -> int:
    n = 1
    for t in self.transforms:
      n *= len(t.params)
    return n

  def require(self, kind: str) -> None:
    """Raises ValueError naming the transform that cannot de-augment ``kind`` (masks, keypoints, boxes)."""
    for t in self.transforms:
      if not getattr(t, f"supports_{kind}"):
        raise ValueError(f"{type(t).__name__} cannot de-augment {kind}: its crops cover different parts of "
                         "the image; use it for classification only")

  def groups(self) -> list[tuple[tuple, list[tuple]]]:
    """``[(static parameters, [traced parameter tuples])]``: one vmapped call per static combination."""
    static = [t.params if t.static else (None,) for t in self.transforms]
    traced = [t.params for t in self.transforms if not t.static]
    return [(s, list(itertools.product(*traced))) for s in itertools.product(*static)]

  def split(self, static_params: tuple, traced_params: Sequence[Any]) -> list:
    """Per-transform parameters from a static tuple and a sequence of traced values."""
    traced_iter = iter(traced_params)
    return [s if t.static else next(traced_iter) for t, s in zip(self.transforms, static_params)]


def d4_transform() -> Compose:
  """The 8 symmetries of the square: horizontal flip x rotations by 0, 90, 180, 270 degrees."""
  return Compose([HorizontalFlip(), Rotate90((0, 90, 180, 270))])


def flip_transform() -> Compose:
  """Horizontal x vertical flips (4 augmentations)."""
  return Compose([HorizontalFlip(), VerticalFlip()])


def hflip_transform() -> Compose:
  """Identity and horizontal flip."""
  return Compose([HorizontalFlip()])


def five_crop_transform(crop_height: int, crop_width: int) -> Compose:
  """Four corner crops and the center crop (classification only)."""
  return Compose([FiveCrops(crop_height, crop_width)])


def ten_crop_transform(crop_height: int, crop_width: int) -> Compose:
  """Five crops of the image and of its mirror (classification only)."""
  return Compose([HorizontalFlip(), FiveCrops(crop_height, crop_width)])


def multiscale_transform(scales: Sequence[float], interpolation: str = "linear") -> Compose:
  """The image at scale 1 and at each of ``scales``."""
  return Compose([Scale(scales, interpolation)])
