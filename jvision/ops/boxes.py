"""Box utilities: format conversions, areas, IoU, GIoU, clipping and R-CNN box deltas.

Boxes are ``[..., 4]`` arrays as ``(x1, y1, x2, y2)`` unless a function says otherwise. The box delta
parameterisation (centre offsets relative to the reference size, log of the size ratio) is the one of R-CNN
(Girshick et al., 2014, appendix C) as used by Fast/Faster R-CNN and SSD; generalized IoU is from Rezatofighi
et al., "Generalized Intersection over Union", CVPR 2019.

Every function is safe on degenerate boxes: a zero-area box gives an IoU of 0 (not 0/0) and finite gradients,
because divisions go through ``_safe_divide`` (the "double where" that keeps NaN out of the backward pass).
"""

from __future__ import annotations

import math
from typing import Sequence

import jax.numpy as jnp

# Largest log-scale a decoded width/height may have: exp(clamp) * reference size is at most 1000/16 times the
# reference, as in Detectron and torchvision's BoxCoder.
DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


def _check_boxes(boxes, name: str = "boxes"):
  boxes = jnp.asarray(boxes)
  if boxes.ndim < 1 or boxes.shape[-1] != 4:
    raise ValueError(f"{name} must have shape [..., 4], got {boxes.shape}")
  if not jnp.issubdtype(boxes.dtype, jnp.floating):
    boxes = boxes.astype(jnp.float32)
  return boxes


def _safe_divide(numerator, denominator):
  """``numerator / denominator`` where the denominator is > 0, else 0; finite gradients everywhere."""
  positive = denominator > 0
  safe_denominator = jnp.where(positive, denominator, 1.0)
  return jnp.where(positive, numerator / safe_denominator, 0.0)


def xyxy_to_xywh(boxes):
  """``(x1, y1, x2, y2)`` -> ``(x1, y1, w, h)``; ``[..., 4] -> [..., 4]``."""
  boxes = _check_boxes(boxes)
  x1, y1, x2, y2 = jnp.moveaxis(boxes, -1, 0)
  return jnp.stack([x1, y1, x2 - x1, y2 - y1], axis=-1)


def xywh_to_xyxy(boxes):
  """``(x1, y1, w, h)`` -> ``(x1, y1, x2, y2)``; ``[..., 4] -> [..., 4]``."""
  boxes = _check_boxes(boxes)
  x, y, w, h = jnp.moveaxis(boxes, -1, 0)
  return jnp.stack([x, y, x + w, y + h], axis=-1)


def xyxy_to_cxcywh(boxes):
  """``(x1, y1, x2, y2)`` -> ``(cx, cy, w, h)``; ``[..., 4] -> [..., 4]``."""
  boxes = _check_boxes(boxes)
  x1, y1, x2, y2 = jnp.moveaxis(boxes, -1, 0)
  return jnp.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)


def cxcywh_to_xyxy(boxes):
  """``(cx, cy, w, h)`` -> ``(x1, y1, x2, y2)``; ``[..., 4] -> [..., 4]``."""
  boxes = _check_boxes(boxes)
  cx, cy, w, h = jnp.moveaxis(boxes, -1, 0)
  return jnp.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


_CONVERSIONS = {
    ("xyxy", "xywh"): xyxy_to_xywh,
    ("xywh", "xyxy"): xywh_to_xyxy,
    ("xyxy", "cxcywh"): xyxy_to_cxcywh,
    ("cxcywh", "xyxy"): cxcywh_to_xyxy,
}


def convert_boxes(boxes, source: str, target: str):
  """Converts ``[..., 4]`` boxes between the ``"xyxy"``, ``"xywh"`` and ``"cxcywh"`` formats."""
  formats = ("xyxy", "xywh", "cxcywh")
  if source not in formats or target not in formats:
    raise ValueError(f"box formats must be among {formats}, got {source!r} -> {target!r}")
  if source == target:
    return _check_boxes(boxes)
  if source != "xyxy":
    boxes = _CONVERSIONS[(source, "xyxy")](boxes)
  if target != "xyxy":
    boxes = _CONVERSIONS[("xyxy", target)](boxes)
  return boxes


def box_area(boxes):
  """Area of ``[..., 4]`` xyxy boxes -> ``[...]``; an inverted box (x2 < x1 or y2 < y1) has area 0."""
  boxes = _check_boxes(boxes)
  width = jnp.maximum(boxes[..., 2] - boxes[..., 0], 0.0)
  height = jnp.maximum(boxes[..., 3] - boxes[..., 1], 0.0)
  return width * height


def _intersection_and_union(boxes1, boxes2):
  """Pairwise intersection and union areas of ``[N, 4]`` and ``[M, 4]`` boxes, each ``[N, M]``."""
  area1 = box_area(boxes1)
  area2 = box_area(boxes2)
  top_left = jnp.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
  bottom_right = jnp.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
  size = jnp.maximum(bottom_right - top_left, 0.0)
  intersection = size[..., 0] * size[..., 1]
  union = area1[:, None] + area2[None, :] - intersection
  return intersection, union


def _check_pair(boxes1, boxes2):
  boxes1 = _check_boxes(boxes1, "boxes1")
  boxes2 = _check_boxes(boxes2, "boxes2")
  if boxes1.ndim != 2 or boxes2.ndim != 2:
    raise ValueError(f"boxes1 and boxes2 must be [N, 4] and [M, 4], got {boxes1.shape} and {boxes2.shape}")
  dtype = jnp.promote_types(boxes1.dtype, boxes2.dtype)
  return boxes1.astype(dtype), boxes2.astype(dtype)


def box_iou(boxes1, boxes2):
  """Pairwise intersection over union of xyxy boxes.

  Args:
    boxes1: ``[N, 4]``.
    boxes2: ``[M, 4]``.

  Returns:
    ``[N, M]`` IoU in [0, 1]; 0 where the union is empty (two zero-area boxes).
  """
  boxes1, boxes2 = _check_pair(boxes1, boxes2)
  intersection, union = _intersection_and_union(boxes1, boxes2)
  return _safe_divide(intersection, union)


def generalized_box_iou(boxes1, boxes2):
  """Pairwise generalized IoU (Rezatofighi et al., 2019): ``IoU - (C - U) / C`` with C the enclosing box.

  Args:
    boxes1: ``[N, 4]`` xyxy.
    boxes2: ``[M, 4]`` xyxy.

  Returns:
    ``[N, M]`` GIoU in [-1, 1]; the enclosing term is 0 when the enclosing box has zero area.
  """
  boxes1, boxes2 = _check_pair(boxes1, boxes2)
  intersection, union = _intersection_and_union(boxes1, boxes2)
  iou = _safe_divide(intersection, union)
  top_left = jnp.minimum(boxes1[:, None, :2], boxes2[None, :, :2])
  bottom_right = jnp.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
  size = jnp.maximum(bottom_right - top_left, 0.0)
  enclosing = size[..., 0] * size[..., 1]
  return iou - _safe_divide(enclosing - union, enclosing)


def clip_boxes(boxes, image_size: Sequence[int]):
  """Clips ``[..., 4]`` xyxy boxes to an image of ``(height, width)``: x to [0, width], y to [0, height]."""
  boxes = _check_boxes(boxes)
  if len(image_size) != 2:
    raise ValueError(f"image_size must be (height, width), got {image_size}")
  height, width = image_size
  upper = jnp.asarray([width, height, width, height], boxes.dtype)
  return jnp.clip(boxes, 0.0, upper)


def _centres_and_sizes(boxes, min_size):
  width = jnp.maximum(boxes[..., 2] - boxes[..., 0], min_size)
  height = jnp.maximum(boxes[..., 3] - boxes[..., 1], min_size)
  centre_x = (boxes[..., 0] + boxes[..., 2]) / 2
  centre_y = (boxes[..., 1] + boxes[..., 3]) / 2
  return centre_x, centre_y, width, height


def encode_boxes(boxes, reference_boxes, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0), min_size: float = 1e-6):
  """R-CNN regression targets of ``boxes`` relative to ``reference_boxes`` (anchors or proposals).

  ``dx = wx * (cx - cx_ref) / w_ref``, ``dy = wy * (cy - cy_ref) / h_ref``, ``dw = ww * log(w / w_ref)``,
  ``dh = wh * log(h / h_ref)``. Faster R-CNN's RPN uses weights (1, 1, 1, 1), its box head (10, 10, 5, 5);
  SSD's "variances" (0.1, 0.2) are weights (10, 10, 5, 5). Widths and heights are floored at ``min_size`` so
  that degenerate boxes give finite targets (and finite gradients) instead of ``log(0)``.

  Args:
    boxes: ``[..., 4]`` xyxy target boxes.
    reference_boxes: ``[..., 4]`` xyxy, broadcastable against ``boxes``.
    weights: ``(wx, wy, ww, wh)``.
    min_size: floor on widths and heights.

  Returns:
    ``[..., 4]`` deltas ``(dx, dy, dw, dh)``.
  """
  boxes = _check_boxes(boxes)
  reference_boxes = _check_boxes(reference_boxes, "reference_boxes")
  if len(weights) != 4:
    raise ValueError(f"weights must be (wx, wy, ww, wh), got {weights}")
  wx, wy, ww, wh = weights
  cx, cy, w, h = _centres_and_sizes(boxes, min_size)
  rcx, rcy, rw, rh = _centres_and_sizes(reference_boxes, min_size)
  return jnp.stack(
      [wx * (cx - rcx) / rw, wy * (cy - rcy) / rh, ww * jnp.log(w / rw), wh * jnp.log(h / rh)], axis=-1)


def decode_boxes(deltas, reference_boxes, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
                 scale_clamp: float = DEFAULT_SCALE_CLAMP, min_size: float = 1e-6):
  """Inverse of ``encode_boxes``: applies ``[..., 4]`` deltas to ``[..., 4]`` xyxy reference boxes.

  ``dw`` and ``dh`` (after dividing by their weights) are clamped at ``scale_clamp`` (default log(1000/16))
  before the exponential, so that a wild regression output cannot overflow.

  Returns:
    ``[..., 4]`` xyxy boxes.
  """
  deltas = _check_boxes(deltas, "deltas")
  reference_boxes = _check_boxes(reference_boxes, "reference_boxes")
  if len(weights) != 4:
    raise ValueError(f"weights must be (wx, wy, ww, wh), got {weights}")
  wx, wy, ww, wh = weights
  rcx, rcy, rw, rh = _centres_and_sizes(reference_boxes, min_size)
  dx, dy = deltas[..., 0] / wx, deltas[..., 1] / wy
  dw = jnp.minimum(deltas[..., 2] / ww, scale_clamp)
  dh = jnp.minimum(deltas[..., 3] / wh, scale_clamp)
  cx, cy = dx * rw + rcx, dy * rh + rcy
  w, h = jnp.exp(dw) * rw, jnp.exp(dh) * rh
  return jnp.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
