"""Box- and mask-aware augmentation: pure numpy functions on one example of the common detection format.

An example is a dict (see ``jvision.data.adapters`` for the full format) with
  image: [H, W, 3], uint8 or float32 (0..1 after ``to_float``),
  boxes: float32 [n, 4], (x1, y1, x2, y2) in pixels, pixel *edges*: a box covering pixel columns 3..5 has
    x1 = 3, x2 = 6, so a box and the mask it comes from transform together exactly,
  labels: int32 [n], and optionally
  instance_masks: uint8 [n, H, W], segmentation: uint8 [H, W] (255 = ignore), is_crowd: bool [n].
Every geometric transform moves image, boxes, instance masks and segmentation together, and drops the same
objects from every per-object array. Random transforms take an explicit ``np.random.Generator``; nothing reads
global random state. ``pad_objects`` makes the object arrays a fixed size with a validity mask, so batches have
static shapes under ``jax.jit``.

The crops follow SSD (Liu et al., 2016, sec. 2.2 "Data augmentation"): a random window is accepted when its
IoU with some object reaches a threshold drawn from {0.1, 0.3, 0.5, 0.7, 0.9} (or no constraint), objects whose
centre leaves the window are dropped, and "zoom out" places the image on a larger canvas of the mean colour.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

IGNORE_LABEL = 255
OBJECT_KEYS = ("boxes", "labels", "instance_masks", "is_crowd")
SSD_MIN_IOUS = (None, 0.1, 0.3, 0.5, 0.7, 0.9)


def num_objects(example: dict) -> int:
  return int(np.shape(example["boxes"])[0])


def select_objects(example: dict, keep: np.ndarray) -> dict:
  """Keeps the objects where ``keep`` (bool [n] or indices) says so, in every per-object array."""
  out = dict(example)
  for key in OBJECT_KEYS:
    if key in example:
      out[key] = np.asarray(example[key])[keep]
  return out


def box_areas(boxes: np.ndarray) -> np.ndarray:
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(boxes: np.ndarray, window: Sequence[float]) -> np.ndarray:
  """IoU [n] of each box with one window, both (x1, y1, x2, y2)."""
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  x1 = np.maximum(boxes[:, 0], window[0])
  y1 = np.maximum(boxes[:, 1], window[1])
  x2 = np.minimum(boxes[:, 2], window[2])
  y2 = np.minimum(boxes[:, 3], window[3])
  intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
  window_area = (window[2] - window[0]) * (window[3] - window[1])
  union = box_areas(boxes) + window_area - intersection
  return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
  """Tight (x1, y1, x2, y2) pixel-edge boxes [n, 4] of masks [n, H, W]; an empty mask gives a zero box."""
  masks = np.asarray(masks) > 0
  boxes = np.zeros((masks.shape[0], 4), np.float32)
  for i, mask in enumerate(masks):
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size:
      boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
  return boxes


# ---------------------------------------------------------------------------------------------- geometry


def horizontal_flip(example: dict) -> dict:
  """Mirrors left-right: x -> W - x for boxes, column c -> W - 1 - c for pixels."""
  width = example["image"].shape[1]
  out = dict(example)
  out["image"] = example["image"][:, ::-1]
  boxes = np.asarray(example["boxes"], np.float32)
  out["boxes"] = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=-1)
  if "instance_masks" in example:
    out["instance_masks"] = example["instance_masks"][:, :, ::-1]
  if "segmentation" in example:
    out["segmentation"] = example["segmentation"][:, ::-1]
  return out


def random_horizontal_flip(example: dict, rng: np.random.Generator, probability: float = 0.5) -> dict:
  return horizontal_flip(example) if rng.random() < probability else example


def clip_to_window(boxes: np.ndarray, window: Sequence[float]) -> np.ndarray:
  """Boxes ``[n, 4]`` clipped to the window (x1, y1, x2, y2); a box outside it gets zero area."""
  x1, y1, x2, y2 = window
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  return np.stack([np.clip(boxes[:, 0], x1, x2), np.clip(boxes[:, 1], y1, y2),
                   np.clip(boxes[:, 2], x1, x2), np.clip(boxes[:, 3], y1, y2)], axis=-1)


def crop(example: dict, window: Sequence[int], *, keep: str = "overlap", min_visible_fraction: float = 0.0
         ) -> dict:
  """Crops to the integer window (x1, y1, x2, y2), clipping boxes and dropping objects that leave it.

  Args:
    keep: "overlap" keeps an object when its clipped box has positive area and at least
      ``min_visible_fraction`` of its original box area; "centre" keeps it when its box centre lies inside the
      window (SSD).
  """
  height, width = example["image"].shape[:2]
  x1, y1, x2, y2 = (int(v) for v in window)
  if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
    raise ValueError(f"crop window {tuple(window)} is not inside the {height}x{width} image")
  boxes = np.asarray(example["boxes"], np.float32).reshape(-1, 4)
  clipped = clip_to_window(boxes, (x1, y1, x2, y2))
  clipped_area = box_areas(clipped)
  if keep == "overlap":
    kept = (clipped_area > 0) & (clipped_area >= min_visible_fraction * box_areas(boxes))
  elif keep == "centre":
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    kept = (cx > x1) & (cx < x2) & (cy > y1) & (cy < y2) & (clipped_area > 0)
  else:
    raise ValueError(f"keep must be 'overlap' or 'centre', got {keep!r}")
  out = dict(example)
  out["boxes"] = clipped - np.array([x1, y1, x1, y1], np.float32)
  out["image"] = example["image"][y1:y2, x1:x2]
  if "instance_masks" in example:
    out["instance_masks"] = example["instance_masks"][:, y1:y2, x1:x2]
  if "segmentation" in example:
    out["segmentation"] = example["segmentation"][y1:y2, x1:x2]
  return select_objects(out, kept)


def sample_window(rng: np.random.Generator, height: int, width: int, scale=(0.3, 1.0), ratio=(0.5, 2.0)
                  ) -> tuple[int, int, int, int]:
  """A window of area ``scale`` x image area and width/height ``ratio`` (log-uniform), inside the image."""
  area = rng.uniform(*scale) * height * width
  aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
  w = int(np.clip(round(np.sqrt(area * aspect)), 1, width))
  h = int(np.clip(round(np.sqrt(area / aspect)), 1, height))
  x1 = int(rng.integers(0, width - w + 1))
  y1 = int(rng.integers(0, height - h + 1))
  return x1, y1, x1 + w, y1 + h


def random_crop(example: dict, rng: np.random.Generator, scale=(0.3, 1.0), ratio=(0.75, 4 / 3),
                min_visible_fraction: float = 0.3) -> dict:
  """Random-resized-crop's crop (Inception style); follow with ``resize`` or ``resize_and_pad``."""
  height, width = example["image"].shape[:2]
  window = sample_window(rng, height, width, scale, ratio)
  return crop(example, window, keep="overlap", min_visible_fraction=min_visible_fraction)


def random_square_window(rng: np.random.Generator, height: int, width: int, scale=(0.3, 1.0)
                         ) -> tuple[int, int, int, int]:
  """A square (x1, y1, x2, y2) of side ``U(scale)`` times the shorter image side, placed uniformly inside."""
  side = max(int(round(rng.uniform(*scale) * min(height, width))), 1)
  left, top = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
  return left, top, left + side, top + side


def _random_square_view(example: dict, rng: np.random.Generator) -> dict:
  """The view of an image without objects: a square of side ``U(0.3, 1)`` times its shorter side, anywhere."""
  height, width = example["image"].shape[:2]
  return crop(example, random_square_window(rng, height, width, (0.3, 1.0)), keep="overlap")


def _random_object_window_side(example: dict, rng: np.random.Generator, context) -> Optional[tuple]:
  """A random object's box and a square side of its longer side times ``U(context)`` (at most the image's
  shorter side); None for an image without objects."""
  boxes = np.asarray(example["boxes"], np.float32).reshape(-1, 4)
  if len(boxes) == 0:
    return None
  height, width = example["image"].shape[:2]
  x1, y1, x2, y2 = boxes[int(rng.integers(len(boxes)))]
  side = max(x2 - x1, y2 - y1, 1.0) * rng.uniform(*context)
  return (x1, y1, x2, y2), int(min(max(round(side), 1), height, width))


def random_object_crop(example: dict, rng: np.random.Generator, context=(1.3, 2.2)) -> dict:
  """A square window around one random object, its side the object's longer side times ``U(context)``.

  The window is placed uniformly among the positions that hold the whole object (centred on it when the
  object is larger than the window) and shifted to stay inside the image; its side is at most the image's
  shorter side. Object-centred views of this kind are what OverFeat's classifier and regressor train on.
  An image without objects gives a square window at a random place, its side ``U(0.3, 1)`` times the
  image's shorter side: a background view.
  """
  if not 1.0 <= context[0] <= context[1]:
    raise ValueError(f"context must be (low, high) with 1 <= low <= high, got {tuple(context)}")
  picked = _random_object_window_side(example, rng, context)
  if picked is None:
    return _random_square_view(example, rng)
  (x1, y1, x2, y2), side = picked
  height, width = example["image"].shape[:2]

  def start(low_edge: float, high_edge: float, size: int) -> int:
    low, high = int(np.ceil(high_edge)) - side, int(np.floor(low_edge))  # Starts that hold the object.
    low, high = max(low, 0), min(high, size - side)
    if low > high:  # The object does not fit: centre on it.
      return int(np.clip(round((low_edge + high_edge - side) / 2), 0, size - side))
    return int(rng.integers(low, high + 1))

  left, top = start(x1, x2, width), start(y1, y2, height)
  return crop(example, (left, top, left + side, top + side), keep="overlap")


def random_background_crop(example: dict, rng: np.random.Generator, scale=(0.25, 0.6),
                           max_object_fraction: float = 0.2, max_trials: int = 20) -> dict:
  """A square window that holds at most ``max_object_fraction`` of every object's area: a background view.

  Its side is ``U(scale)`` times the image's shorter side, its place uniform; the objects it clips are
  dropped. When no window qualifies in ``max_trials`` tries, returns ``random_object_crop(example)`` (an
  object view, with its object) instead.
  """
  if not 0.0 <= max_object_fraction < 1.0:
    raise ValueError(f"max_object_fraction must be in [0, 1), got {max_object_fraction}")
  height, width = example["image"].shape[:2]
  boxes = np.asarray(example["boxes"], np.float32).reshape(-1, 4)
  areas = np.maximum(box_areas(boxes), 1e-6)
  for _ in range(max_trials):
    window = random_square_window(rng, height, width, scale)
    if np.all(box_areas(clip_to_window(boxes, window)) <= max_object_fraction * areas):
      out = crop(example, window, keep="overlap")
      return select_objects(out, np.zeros(num_objects(out), bool))
  return random_object_crop(example, rng)


def random_part_crop(example: dict, rng: np.random.Generator, context=(0.4, 0.9)) -> dict:
  """A square window too small for a random object, its side that object's longer side times ``U(context)``,
  centred at a uniform point of the object's box (then shifted to stay inside the image): a view of a part.

  Every object is dropped, so the view trains the "no object" class: at test time, OverFeat's windows at the
  scales where an object is larger than a window then vote for no class instead of a confident wrong one. An
  image without objects gives a background view as ``random_object_crop`` does.
  """
  if not 0.0 < context[0] <= context[1] < 1.0:
    raise ValueError(f"context must be (low, high) with 0 < low <= high < 1, got {tuple(context)}")
  picked = _random_object_window_side(example, rng, context)
  if picked is None:
    return _random_square_view(example, rng)
  (x1, y1, x2, y2), side = picked
  height, width = example["image"].shape[:2]
  cx, cy = rng.uniform(x1, max(x2, x1 + 1e-3)), rng.uniform(y1, max(y2, y1 + 1e-3))
  left = int(np.clip(round(cx - side / 2), 0, width - side))
  top = int(np.clip(round(cy - side / 2), 0, height - side))
  out = crop(example, (left, top, left + side, top + side), keep="overlap")
  return select_objects(out, np.zeros(num_objects(out), bool))


def random_iou_crop(example: dict, rng: np.random.Generator, min_ious=SSD_MIN_IOUS, scale=(0.3, 1.0),
                    ratio=(0.5, 2.0), max_trials: int = 50) -> dict:
  """SSD crop: a window whose IoU with at least one object reaches a random threshold; keeps the objects whose
  centre is inside. Returns the example unchanged when the threshold is None, there are no objects, or no
  window qualifies in ``max_trials`` tries."""
  min_iou = min_ious[int(rng.integers(len(min_ious)))]
  if min_iou is None or num_objects(example) == 0:
    return example
  height, width = example["image"].shape[:2]
  boxes = np.asarray(example["boxes"], np.float32)
  for _ in range(max_trials):
    window = sample_window(rng, height, width, scale, ratio)
    if box_iou(boxes, window).max() < min_iou:
      continue
    cropped = crop(example, window, keep="centre")
    if num_objects(cropped):
      return cropped
  return example


def zoom_out(example: dict, rng: np.random.Generator, max_scale: float = 4.0, fill=None,
             segmentation_fill: int = IGNORE_LABEL) -> dict:
  """Places the image at a random spot of a canvas ``uniform(1, max_scale)`` times larger (SSD "expand").

  The canvas is ``fill`` (default: the image's mean colour); new segmentation pixels are ``segmentation_fill``.
  """
  height, width, channels = example["image"].shape
  factor = rng.uniform(1.0, max_scale)
  out_h, out_w = int(height * factor), int(width * factor)
  top, left = int(rng.integers(0, out_h - height + 1)), int(rng.integers(0, out_w - width + 1))
  image = example["image"]
  fill = image.reshape(-1, channels).mean(axis=0) if fill is None else fill
  canvas = np.empty((out_h, out_w, channels), image.dtype)
  canvas[...] = np.asarray(fill).astype(image.dtype)
  canvas[top:top + height, left:left + width] = image
  out = dict(example, image=canvas)
  out["boxes"] = np.asarray(example["boxes"], np.float32) + np.array([left, top, left, top], np.float32)
  if "instance_masks" in example:
    masks = np.zeros((example["instance_masks"].shape[0], out_h, out_w), example["instance_masks"].dtype)
    masks[:, top:top + height, left:left + width] = example["instance_masks"]
    out["instance_masks"] = masks
  if "segmentation" in example:
    segmentation = np.full((out_h, out_w), segmentation_fill, example["segmentation"].dtype)
    segmentation[top:top + height, left:left + width] = example["segmentation"]
    out["segmentation"] = segmentation
  return out


def _resize_indices(in_size: int, out_size: int):
  """Bilinear source indices and weights with half-pixel centres (TF2 / PIL convention)."""
  position = (np.arange(out_size) + 0.5) * in_size / out_size - 0.5
  position = np.clip(position, 0, in_size - 1)
  low = np.floor(position).astype(np.int64)
  high = np.minimum(low + 1, in_size - 1)
  return low, high, (position - low).astype(np.float32)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bilinear resize (no antialiasing) of [H, W, C]; returns float32."""
  image = np.asarray(image, np.float32)
  low, high, weight = _resize_indices(image.shape[0], height)
  image = image[low] * (1 - weight)[:, None, None] + image[high] * weight[:, None, None]
  low, high, weight = _resize_indices(image.shape[1], width)
  return image[:, low] * (1 - weight)[None, :, None] + image[:, high] * weight[None, :, None]


def resize_nearest(array: np.ndarray, height: int, width: int, axes=(0, 1)) -> np.ndarray:
  """Nearest-neighbour resize of the two ``axes`` of ``array`` (labels and masks)."""
  rows = np.minimum(((np.arange(height) + 0.5) * array.shape[axes[0]] / height).astype(np.int64),
                    array.shape[axes[0]] - 1)
  cols = np.minimum(((np.arange(width) + 0.5) * array.shape[axes[1]] / width).astype(np.int64),
                    array.shape[axes[1]] - 1)
  return np.take(np.take(array, rows, axis=axes[0]), cols, axis=axes[1])


def resize(example: dict, height: int, width: int) -> dict:
  """Resizes to exactly (height, width): bilinear image (float32, same value range), nearest masks, boxes
  scaled per axis."""
  in_h, in_w = example["image"].shape[:2]
  out = dict(example)
  out["image"] = resize_image(example["image"], height, width)
  scale = np.array([width / in_w, height / in_h, width / in_w, height / in_h], np.float32)
  # Clip away float rounding at the far edges (a box ending at in_w must end at exactly width).
  out["boxes"] = np.minimum(np.asarray(example["boxes"], np.float32) * scale,
                            np.array([width, height, width, height], np.float32))
  if "instance_masks" in example:
    out["instance_masks"] = resize_nearest(example["instance_masks"], height, width, axes=(1, 2))
  if "segmentation" in example:
    out["segmentation"] = resize_nearest(example["segmentation"], height, width)
  return out


def resize_and_pad(example: dict, size: int, segmentation_fill: int = IGNORE_LABEL) -> dict:
  """Scales the longer side to ``size`` (aspect kept) and pads bottom/right to [size, size].

  Adds ``scale`` float32 [2] (y, x): output pixels per input pixel, to map predictions back.
  """
  in_h, in_w = example["image"].shape[:2]
  factor = size / max(in_h, in_w)
  new_h, new_w = max(1, min(size, round(in_h * factor))), max(1, min(size, round(in_w * factor)))
  out = resize(example, new_h, new_w)
  image = np.zeros((size, size, out["image"].shape[2]), np.float32)
  image[:new_h, :new_w] = out["image"]
  out["image"] = image
  if "instance_masks" in out:
    masks = np.zeros((out["instance_masks"].shape[0], size, size), out["instance_masks"].dtype)
    masks[:, :new_h, :new_w] = out["instance_masks"]
    out["instance_masks"] = masks
  if "segmentation" in out:
    segmentation = np.full((size, size), segmentation_fill, out["segmentation"].dtype)
    segmentation[:new_h, :new_w] = out["segmentation"]
    out["segmentation"] = segmentation
  out["scale"] = np.array([new_h / in_h, new_w / in_w], np.float32)
  return out


def tighten_boxes_to_masks(example: dict) -> dict:
  """Boxes := tight boxes of the instance masks; objects whose mask became empty are dropped.

  After a crop, a clipped box can be larger than what is left of a non-rectangular object; its mask knows.
  """
  if "instance_masks" not in example:
    return example
  boxes = boxes_from_masks(example["instance_masks"])
  out = dict(example, boxes=boxes)
  return select_objects(out, boxes[:, 2] > boxes[:, 0])


def drop_small_objects(example: dict, min_size: float = 1.0) -> dict:
  """Drops objects whose box is narrower or shorter than ``min_size`` pixels."""
  boxes = np.asarray(example["boxes"], np.float32).reshape(-1, 4)
  keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
  return select_objects(example, keep)


# ------------------------------------------------------------------------------------------- photometric


def to_float(example: dict) -> dict:
  """uint8 image -> float32 in [0, 1]; a float image must already be in [0, 1]."""
  image = example["image"]
  if image.dtype == np.uint8:
    image = image.astype(np.float32) / 255.0
  elif np.issubdtype(image.dtype, np.floating):
    image = image.astype(np.float32)
    if not np.all(np.isfinite(image)) or image.min(initial=0) < 0 or image.max(initial=0) > 1:
      raise ValueError("float image must be finite and in [0, 1]; got range "
                       f"[{np.nanmin(image)}, {np.nanmax(image)}]")
  else:
    raise ValueError(f"image must be uint8 or float, got dtype {image.dtype}")
  return dict(example, image=image)


def photometric_jitter(example: dict, rng: np.random.Generator, brightness: float = 0.125,
                       contrast: float = 0.5, saturation: float = 0.5, hue: float = 0.05) -> dict:
  """Random brightness (+-), contrast and saturation (x uniform(1-c, 1+c)) and hue rotation (+- turns) of a
  float image in [0, 1], in random order; the result is clipped to [0, 1]."""
  image = to_float(example)["image"]
  gray_weights = np.array([0.299, 0.587, 0.114], np.float32)

  def adjust_brightness(x):
    return x + rng.uniform(-brightness, brightness)

  def adjust_contrast(x):
    mean = (x @ gray_weights).mean()
    return (x - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean

  def adjust_saturation(x):
    gray = (x @ gray_weights)[..., None]
    return (x - gray) * rng.uniform(1 - saturation, 1 + saturation) + gray

  def adjust_hue(x):
    # Rotate the chroma plane of YIQ.
    angle = rng.uniform(-hue, hue) * 2 * np.pi
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float32)
    matrix = np.linalg.inv(to_yiq) @ rotation @ to_yiq
    return x @ matrix.T.astype(np.float32)

  for index in rng.permutation(4):
    image = np.clip((adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)[index](image), 0, 1)
  return dict(example, image=image.astype(np.float32))


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(example: dict, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> dict:
  """(image - mean) / std on a float image in [0, 1] (uint8 images are converted first)."""
  std = np.asarray(std, np.float32)
  if np.any(std <= 0):
    raise ValueError(f"std must be positive, got {std}")
  image = to_float(example)["image"]
  return dict(example, image=(image - np.asarray(mean, np.float32)) / std)


# ---------------------------------------------------------------------------------------- static shapes


def pad_objects(example: dict, max_objects: int, overflow: str = "keep_largest") -> dict:
  """Pads per-object arrays to ``max_objects`` and adds ``valid`` bool [max_objects].

  Padding: boxes 0, labels -1, instance masks 0, is_crowd False. More than ``max_objects`` objects:
  ``overflow="keep_largest"`` keeps the largest boxes (in their original order), ``"raise"`` raises.
  """
  n = num_objects(example)
  if n > max_objects:
    if overflow == "raise":
      raise ValueError(f"example has {n} objects, more than max_objects={max_objects}")
    if overflow != "keep_largest":
      raise ValueError(f"overflow must be 'keep_largest' or 'raise', got {overflow!r}")
    largest = np.sort(np.argsort(-box_areas(example["boxes"]), kind="stable")[:max_objects])
    example = select_objects(example, largest)
    n = max_objects
  out = dict(example)
  boxes = np.zeros((max_objects, 4), np.float32)
  boxes[:n] = np.asarray(example["boxes"], np.float32).reshape(-1, 4)
  labels = np.full((max_objects,), -1, np.int32)
  labels[:n] = example["labels"]
  out.update(boxes=boxes, labels=labels, valid=np.arange(max_objects) < n)
  if "instance_masks" in example:
    masks = np.zeros((max_objects,) + example["instance_masks"].shape[1:], np.uint8)
    masks[:n] = example["instance_masks"]
    out["instance_masks"] = masks
  if "is_crowd" in example:
    is_crowd = np.zeros((max_objects,), bool)
    is_crowd[:n] = example["is_crowd"]
    out["is_crowd"] = is_crowd
  return out


def validate(example: dict, where: str = "example") -> dict:
  """Checks the common format before augmentation; raises ValueError naming the problem. Returns ``example``.

  An image with no objects is valid (all objects padded as invalid later).
  """
  image = example.get("image")
  if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
    raise ValueError(f"{where}: image must be a [H, W, 3] array, got {getattr(image, 'shape', type(image))}")
  if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
    raise ValueError(f"{where}: image dtype must be uint8 or float, got {image.dtype}")
  if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
    raise ValueError(f"{where}: image has NaN or infinite values")
  height, width = image.shape[:2]
  if height == 0 or width == 0:
    raise ValueError(f"{where}: image is empty ({height}x{width})")
  boxes = np.asarray(example.get("boxes"))
  if boxes.ndim != 2 or boxes.shape[1] != 4:
    raise ValueError(f"{where}: boxes must be [n, 4], got shape {boxes.shape}")
  if not np.issubdtype(boxes.dtype, np.floating) and not np.issubdtype(boxes.dtype, np.integer):
    raise ValueError(f"{where}: boxes must be numeric, got dtype {boxes.dtype}")
  if not np.all(np.isfinite(boxes)):
    raise ValueError(f"{where}: boxes have NaN or infinite coordinates")
  n = boxes.shape[0]
  if n:
    bad = np.nonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))[0]
    if bad.size:
      raise ValueError(f"{where}: box {bad[0]} {boxes[bad[0]].tolist()} has x2 < x1 or y2 < y1")
    tolerance = 1e-3 * max(height, width)
    outside = np.nonzero((boxes[:, 0] < -tolerance) | (boxes[:, 1] < -tolerance)
                         | (boxes[:, 2] > width + tolerance) | (boxes[:, 3] > height + tolerance))[0]
    if outside.size:
      raise ValueError(f"{where}: box {outside[0]} {boxes[outside[0]].tolist()} lies outside the "
                       f"{height}x{width} image")
  labels = np.asarray(example.get("labels"))
  if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{where}: labels must be integers of shape ({n},), got {labels.dtype} {labels.shape}")
  if n and labels.min() < 0:
    raise ValueError(f"{where}: labels must be >= 0, got {labels.min()}")
  if "instance_masks" in example:
    masks = np.asarray(example["instance_masks"])
    if masks.shape != (n, height, width):
      raise ValueError(f"{where}: instance_masks must be [{n}, {height}, {width}], got {masks.shape}")
  if "segmentation" in example:
    segmentation = np.asarray(example["segmentation"])
    if segmentation.shape != (height, width) or not np.issubdtype(segmentation.dtype, np.integer):
      raise ValueError(f"{where}: segmentation must be integer [{height}, {width}], got "
                       f"{segmentation.dtype} {segmentation.shape}")
  return example

