"""Prior boxes of one-stage and two-stage detectors: Faster R-CNN anchors, SSD default boxes, YOLO cells.

* ``anchor_grid``: every (aspect ratio, scale) pair centred on every cell of a stride-``s`` feature map (Ren et
  al., "Faster R-CNN", NeurIPS 2015, section 3.1.1).
* ``ssd_default_boxes``: per layer, a square of ``min_size``, a square of ``sqrt(min_size * max_size)`` and a
  pair of boxes per extra aspect ratio ``a`` (``min_size * sqrt(a)`` by ``min_size / sqrt(a)`` and its
  transpose), centred on each cell (Liu et al., "SSD", ECCV 2016, section 2.2).
* ``yolo_cell_grid`` / ``yolo_cell_index`` / ``yolo_encode_boxes`` / ``yolo_decode_boxes``: the S x S grid of
  YOLO (Redmon et al., CVPR 2016, section 2): the cell containing an object's centre is responsible for it;
  a box is its centre offset within that cell and the square roots of its size relative to the image.

Shapes are static (they depend only on Python arguments), so these build constants once under jit.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np


def _pair(value, name: str) -> tuple:
  if isinstance(value, (int, float)):
    return (value, value)
  value = tuple(value)
  if len(value) != 2:
    raise ValueError(f"{name} must be a number or a (height, width) pair, got {value!r}")
  return value


def anchor_grid(feature_size, stride, scales: Sequence[float], aspect_ratios: Sequence[float],
                offset: float = 0.0):
  """Faster R-CNN anchors over a feature map.

  Cell ``(i, j)`` has centre ``((j + offset) * stride_x, (i + offset) * stride_y)`` (``offset=0`` is
  torchvision's AnchorGenerator, 0.5 puts anchors at cell centres). An aspect ratio is height / width: the
  anchor of scale ``s`` and ratio ``r`` is ``s / sqrt(r)`` wide and ``s * sqrt(r)`` tall (area ``s^2``); unlike
  torchvision the sizes are not rounded to integers.

  Args:
    feature_size: ``(H, W)`` of the feature map.
    stride: input pixels per feature cell, a number or ``(stride_y, stride_x)``.
    scales: anchor sizes in pixels.
    aspect_ratios: height / width ratios.

  Returns:
    ``[H * W * A, 4]`` float32 xyxy with ``A = len(aspect_ratios) * len(scales)``, ordered by row, column,
    aspect ratio, scale (the layout of a ``[H, W, A * k]`` head output reshaped to ``[H * W * A, k]``).
  """
  height, width = (int(v) for v in _pair(feature_size, "feature_size"))
  stride_y, stride_x = _pair(stride, "stride")
  scales = np.asarray(scales, np.float64)
  ratios = np.asarray(aspect_ratios, np.float64)
  if scales.ndim != 1 or ratios.ndim != 1 or not len(scales) or not len(ratios):
    raise ValueError("scales and aspect_ratios must be non-empty lists of numbers")
  if np.any(scales <= 0) or np.any(ratios <= 0):
    raise ValueError(f"scales and aspect_ratios must be positive, got {scales} and {ratios}")
  half_w = (scales[None, :] / np.sqrt(ratios)[:, None]).reshape(-1) / 2
  half_h = (scales[None, :] * np.sqrt(ratios)[:, None]).reshape(-1) / 2
  base = np.stack([-half_w, -half_h, half_w, half_h], axis=-1)  # [A, 4]
  cy, cx = np.meshgrid((np.arange(height) + offset) * stride_y, (np.arange(width) + offset) * stride_x,
                       indexing="ij")
  centres = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4)
  return jnp.asarray((centres + base[None]).reshape(-1, 4), jnp.float32)


def ssd_default_boxes(feature_sizes: Sequence[int], image_size: float, min_sizes: Sequence[float],
                      max_sizes: Sequence[float], aspect_ratios: Sequence[Sequence[float]],
                      steps: Sequence[float] | None = None, clip: bool = True):
  """SSD default boxes for square feature maps, normalised to the image.

  For layer ``k`` with an ``f x f`` map, cell ``(i, j)`` is centred at ``((j + 0.5) * step, (i + 0.5) * step)
  / image_size`` (``step`` defaults to ``image_size / f``) and holds, in order: the ``min_size`` square, the
  ``sqrt(min_size * max_size)`` square, then for each ratio ``a`` a box ``sqrt(a)`` times wider than tall and
  one ``sqrt(a)`` times taller than wide. SSD300 (maps 38, 19, 10, 5, 3, 1) gives 8732 boxes.

  Args:
    feature_sizes: side of each layer's square map.
    image_size: side of the square input in pixels.
    min_sizes, max_sizes: per-layer sizes in pixels.
    aspect_ratios: per-layer extra ratios (e.g. ``[2]`` or ``[2, 3]``).
    steps: per-layer pixels per cell.
    clip: clip the xyxy boxes to [0, 1].

  Returns:
    ``[N, 4]`` float32 xyxy in [0, 1] image units.
  """
  num_layers = len(feature_sizes)
  steps = [image_size / f for f in feature_sizes] if steps is None else list(steps)
  for name, values in (("min_sizes", min_sizes), ("max_sizes", max_sizes), ("aspect_ratios", aspect_ratios),
                       ("steps", steps)):
    if len(values) != num_layers:
      raise ValueError(f"{name} must have one entry per layer ({num_layers}), got {len(values)}")
  layers = []
  for size, step, min_size, max_size, ratios in zip(feature_sizes, steps, min_sizes, max_sizes, aspect_ratios):
    small = min_size / image_size
    shapes = [(small, small), (np.sqrt(small * max_size / image_size),) * 2]
    for ratio in ratios:
      shapes += [(small * np.sqrt(ratio), small / np.sqrt(ratio)), (small / np.sqrt(ratio), small * np.sqrt(ratio))]
    shapes = np.asarray(shapes)  # [A, 2] (w, h)
    centres = (np.arange(size) + 0.5) * step / image_size
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    cx, cy = cx.reshape(-1, 1), cy.reshape(-1, 1)
    w, h = shapes[None, :, 0], shapes[None, :, 1]
    layers.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).reshape(-1, 4))
  boxes = np.concatenate(layers)
  if clip:
    boxes = np.clip(boxes, 0.0, 1.0)
  return jnp.asarray(boxes, jnp.float32)


def yolo_cell_grid(grid_size, image_size):
  """``[S_h, S_w, 4]`` xyxy pixel boxes of the cells of a YOLO grid over an ``(H, W)`` image."""
  rows, cols = (int(v) for v in _pair(grid_size, "grid_size"))
  height, width = _pair(image_size, "image_size")
  y, x = np.meshgrid(np.arange(rows) * height / rows, np.arange(cols) * width / cols, indexing="ij")
  return jnp.asarray(np.stack([x, y, x + width / cols, y + height / rows], axis=-1), jnp.float32)


def yolo_cell_index(boxes, grid_size, image_size):
  """``[..., 2]`` int32 ``(row, col)`` of the cell containing each ``[..., 4]`` xyxy box's centre (clipped)."""
  rows, cols = (int(v) for v in _pair(grid_size, "grid_size"))
  height, width = _pair(image_size, "image_size")
  boxes = jnp.asarray(boxes)
  cx = (boxes[..., 0] + boxes[..., 2]) / 2
  cy = (boxes[..., 1] + boxes[..., 3]) / 2
  row = jnp.clip(jnp.floor(cy / height * rows), 0, rows - 1).astype(jnp.int32)
  col = jnp.clip(jnp.floor(cx / width * cols), 0, cols - 1).astype(jnp.int32)
  return jnp.stack([row, col], axis=-1)


def yolo_encode_boxes(boxes, cell_index, grid_size, image_size):
  """YOLO v1 targets ``(x, y, sqrt(w), sqrt(h))``: centre offset in the cell (in cell units) and square roots
  of the size relative to the image; ``boxes [..., 4]`` xyxy pixels, ``cell_index [..., 2]`` (row, col)."""
  rows, cols = (int(v) for v in _pair(grid_size, "grid_size"))
  height, width = _pair(image_size, "image_size")
  boxes = jnp.asarray(boxes)
  cx = (boxes[..., 0] + boxes[..., 2]) / 2 / width * cols - cell_index[..., 1]
  cy = (boxes[..., 1] + boxes[..., 3]) / 2 / height * rows - cell_index[..., 0]
  w = jnp.maximum(boxes[..., 2] - boxes[..., 0], 0.0) / width
  h = jnp.maximum(boxes[..., 3] - boxes[..., 1], 0.0) / height
  return jnp.stack([cx, cy, jnp.sqrt(w), jnp.sqrt(h)], axis=-1)


def yolo_decode_boxes(predictions, grid_size, image_size):
  """Inverse of ``yolo_encode_boxes`` for a whole grid: ``[S_h, S_w, ..., 4]`` -> xyxy pixels, same shape."""
  rows, cols = (int(v) for v in _pair(grid_size, "grid_size"))
  height, width = _pair(image_size, "image_size")
  predictions = jnp.asarray(predictions)
  if predictions.shape[:2] != (rows, cols) or predictions.shape[-1] != 4:
    raise ValueError(f"predictions must be [{rows}, {cols}, ..., 4], got {predictions.shape}")
  extra = (1,) * (predictions.ndim - 3)
  row = jnp.arange(rows, dtype=predictions.dtype).reshape((rows, 1) + extra)
  col = jnp.arange(cols, dtype=predictions.dtype).reshape((1, cols) + extra)
  cx = (col + predictions[..., 0]) / cols * width
  cy = (row + predictions[..., 1]) / rows * height
  w = jnp.square(predictions[..., 2]) * width
  h = jnp.square(predictions[..., 3]) * height
  return jnp.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
