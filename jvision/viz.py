"""Pictures of data and predictions: boxes with class names and scores, mask overlays, batch grids, PNG files.

Everything takes and returns numpy uint8 [H, W, 3] pictures (``to_uint8`` converts float or normalised
images), so the functions compose: ``save_png(path, tile([draw_boxes(overlay_instance_masks(im, m), b, ...)
for ...]))``. Colours come from ``palette``: the PASCAL VOC colour map (bits of the class id spread over the
high bits of R, G and B), so class k has the same colour in every picture.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def palette(num_colours: int = 256) -> np.ndarray:
  """uint8 [num_colours, 3]; colour 0 is black (background), the others are distinct and saturated."""
  colours = np.zeros((num_colours, 3), np.uint8)
  for index in range(num_colours):
    value, red, green, blue = index, 0, 0, 0
    for shift in range(7, -1, -1):
      red |= ((value >> 0) & 1) << shift
      green |= ((value >> 1) & 1) << shift
      blue |= ((value >> 2) & 1) << shift
      value >>= 3
    colours[index] = (red, green, blue)
  return colours


def to_uint8(image: np.ndarray, mean: Optional[Sequence[float]] = None,
             std: Optional[Sequence[float]] = None) -> np.ndarray:
  """A picture from an image: uint8 as is; float in [0, 1], or normalised with ``mean``/``std`` (undone).

  Grey [H, W] or [H, W, 1] images are repeated to RGB.
  """
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[2] not in (1, 3):
    raise ValueError(f"image must be [H, W], [H, W, 1] or [H, W, 3], got {image.shape}")
  if image.shape[2] == 1:
    image = np.repeat(image, 3, axis=2)
  if image.dtype == np.uint8:
    return image
  if not np.issubdtype(image.dtype, np.floating):
    raise ValueError(f"image must be uint8 or float, got dtype {image.dtype}")
  if not np.all(np.isfinite(image)):
    raise ValueError("image has NaN or infinite values")
  image = image.astype(np.float32)
  if std is not None:
    image = image * np.asarray(std, np.float32)
  if mean is not None:
    image = image + np.asarray(mean, np.float32)
  return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def draw_boxes(image: np.ndarray, boxes: np.ndarray, labels: Optional[np.ndarray] = None,
               scores: Optional[np.ndarray] = None, class_names: Optional[Sequence[str]] = None,
               valid: Optional[np.ndarray] = None, min_score: float = 0.0, line_width: int = 1) -> np.ndarray:
  """Draws (x1, y1, x2, y2) pixel boxes, coloured by label, with "name score" captions above them.

  Args:
    boxes: [K, 4]; labels: int [K] (-1 or ``valid`` False marks padding); scores: [K] (boxes under
      ``min_score`` are skipped); class_names: label -> name for the captions.
  """
  picture = Image.fromarray(to_uint8(image))
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  count = len(boxes)
  has_labels = labels is not None
  labels = np.zeros(count, np.int64) if labels is None else np.asarray(labels).reshape(-1)
  valid = (labels >= 0) if valid is None else (np.asarray(valid, bool).reshape(-1) & (labels >= 0))
  if scores is not None:
    scores = np.asarray(scores, np.float32).reshape(-1)
    valid &= scores >= min_score
  colours = palette(256)
  draw = ImageDraw.Draw(picture)
  font = ImageFont.load_default()
  for k in np.nonzero(valid)[0]:
    if not np.all(np.isfinite(boxes[k])):
      raise ValueError(f"box {k} has non-finite coordinates {boxes[k].tolist()}")
    colour = tuple(int(c) for c in colours[1 + int(labels[k]) % 255])
    x1, y1, x2, y2 = boxes[k]
    # A box's right/bottom edges are pixel edges; the last pixel inside is x2 - 1.
    draw.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=colour, width=line_width)
    if class_names is not None:
      caption = class_names[int(labels[k])]
    else:
      caption = str(int(labels[k])) if has_labels else ""
    if scores is not None:
      caption = f"{caption} {scores[k]:.2f}"
    if caption:
      left, top, right, bottom = draw.textbbox((0, 0), caption, font=font)
      text_y = y1 - (bottom - top) - 2 if y1 - (bottom - top) - 2 >= 0 else y1 + 1
      draw.rectangle([x1, text_y, x1 + right - left + 1, text_y + bottom - top + 1], fill=colour)
      draw.text((x1 + 1 - left, text_y - top), caption, fill=(0, 0, 0), font=font)
  return np.asarray(picture)


def _blend(image: np.ndarray, where: np.ndarray, colours: np.ndarray, alpha: float) -> np.ndarray:
  out = image.astype(np.float32)
  out[where] = (1 - alpha) * out[where] + alpha * colours
  return (out + 0.5).astype(np.uint8)


def overlay_segmentation(image: np.ndarray, segmentation: np.ndarray, alpha: float = 0.5,
                         ignore_label: int = 255) -> np.ndarray:
  """Blends the palette colour of each class (0 = background and ``ignore_label`` stay as they are)."""
  picture = to_uint8(image)
  segmentation = np.asarray(segmentation)
  if segmentation.shape != picture.shape[:2]:
    raise ValueError(f"segmentation is {segmentation.shape}, image is {picture.shape[:2]}")
  where = (segmentation != 0) & (segmentation != ignore_label)
  return _blend(picture, where, palette(256)[segmentation[where].astype(np.int64) % 256], alpha)


def overlay_instance_masks(image: np.ndarray, masks: np.ndarray, valid: Optional[np.ndarray] = None,
                           labels: Optional[np.ndarray] = None, alpha: float = 0.5) -> np.ndarray:
  """Blends each instance mask [K, H, W] in its own colour (by label when given, else by instance)."""
  picture = to_uint8(image)
  masks = np.asarray(masks) > 0
  if masks.ndim != 3 or masks.shape[1:] != picture.shape[:2]:
    raise ValueError(f"masks must be [K, {picture.shape[0]}, {picture.shape[1]}], got {masks.shape}")
  valid = np.ones(len(masks), bool) if valid is None else np.asarray(valid, bool)
  colours = palette(256)
  for k in np.nonzero(valid)[0]:
    colour = colours[1 + (int(labels[k]) if labels is not None else k) % 255]
    picture = _blend(picture, masks[k], colour, alpha)
  return picture


def tile(images: Sequence[np.ndarray], columns: Optional[int] = None, padding: int = 2,
         pad_value: int = 255) -> np.ndarray:
  """Lays pictures of one size out in a grid (``columns`` default: about square), ``padding`` pixels apart."""
  pictures = [to_uint8(image) for image in images]
  if not pictures:
    raise ValueError("tile needs at least one image")
  shapes = {p.shape for p in pictures}
  if len(shapes) > 1:
    raise ValueError(f"tile needs images of one size, got {sorted(shapes)}")
  height, width, _ = pictures[0].shape
  columns = columns or int(np.ceil(np.sqrt(len(pictures))))
  rows = int(np.ceil(len(pictures) / columns))
  grid = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding, 3), pad_value,
                 np.uint8)
  for index, picture in enumerate(pictures):
    top = padding + (index // columns) * (height + padding)
    left = padding + (index % columns) * (width + padding)
    grid[top:top + height, left:left + width] = picture
  return grid


def save_png(path: str, image: np.ndarray) -> str:
  """Writes a picture as PNG (creating the folder) and returns ``path``."""
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  Image.fromarray(to_uint8(image)).save(path, format="PNG")
  return path


def detection_grid(batch: dict, class_names: Sequence[str], predictions: Optional[dict] = None,
                   mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                   max_images: int = 16, min_score: float = 0.3) -> np.ndarray:
  """A grid of a pipeline batch: ground-truth masks/segmentation overlaid, ground-truth boxes, and the
  ``predictions`` (``boxes``, ``labels``, ``scores``, optional ``valid``, each [B, K, ...]) with scores; with
  predicted instance ``masks`` [B, K, H, W] (Mask R-CNN), those of the drawn detections are overlaid instead of
  the ground truth's."""
  pictures = []
  for b in range(min(max_images, len(batch["image"]))):
    picture = to_uint8(batch["image"][b], mean, std)
    if "segmentation" in batch:
      picture = overlay_segmentation(picture, batch["segmentation"][b])
    if predictions is not None and "masks" in predictions:
      drawn = np.asarray(predictions["scores"][b]) >= min_score
      if predictions.get("valid") is not None:
        drawn &= np.asarray(predictions["valid"][b], bool)
      picture = overlay_instance_masks(picture, predictions["masks"][b], drawn, predictions["labels"][b])
    elif "instance_masks" in batch:
      picture = overlay_instance_masks(picture, batch["instance_masks"][b], batch["valid"][b], batch["labels"][b])
    if predictions is None:
      picture = draw_boxes(picture, batch["boxes"][b], batch["labels"][b], class_names=class_names,
                           valid=batch["valid"][b])
    else:
      predicted_valid = predictions.get("valid")
      picture = draw_boxes(picture, predictions["boxes"][b], predictions["labels"][b], predictions["scores"][b],
                           class_names, None if predicted_valid is None else predicted_valid[b], min_score)
    pictures.append(picture)
  return tile(pictures)
