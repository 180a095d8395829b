"""Region-of-interest pooling: RoIPool (Girshick, "Fast R-CNN", ICCV 2015) and RoIAlign (He et al., "Mask R-CNN",
ICCV 2017), on NHWC feature maps with static output shapes.

The semantics are those of ``torchvision.ops.roi_pool`` and ``torchvision.ops.roi_align``:

* RoIPool rounds the scaled box to integer cells (half away from zero), gives it a size of at least 1x1 (the
  box's end cell is included), splits it into ``output_size`` bins with ``floor``/``ceil`` edges, clips the
  bins to the map and takes the max of each bin (0 for an empty bin).
* RoIAlign does not round: each bin averages ``sampling_ratio`` x ``sampling_ratio`` bilinear samples at
  the centres of a regular sub-grid, or ``ceil(roi_size / output_size)`` samples per axis when
  ``sampling_ratio <= 0`` (adaptive). A sample more than one cell outside the map contributes 0; one within a
  cell of the border is clamped to it. ``aligned=True`` shifts the scaled box by -0.5 so that pixel centres
  sit at half-integers (the fix of Detectron2); ``aligned=False`` keeps the legacy behaviour, including
  forcing the RoI to at least 1x1.

RoIAlign is computed as two matrix products: bilinear sampling is separable, so the average over a bin's
samples is ``sum_yx Wy[bin_y, y] Wx[bin_x, x] F[y, x]`` with per-axis weight matrices that already hold the sum
over samples. That keeps the work dense (and the gradient with respect to the features a pair of matrix
products) instead of a gather of four neighbours per sample. The row contraction runs over every image of the
batch (``K * h * B * H * W * C`` multiply-adds), so with per-image RoIs (``[B, R, 4]``, the usual padded
layout) prefer ``jax.vmap`` over images with ``features[None]``, which costs ``B`` times less. Adaptive
sampling needs a static bound on the number of samples per axis: ``max_sampling_ratio``, by default enough for
any RoI that fits in the feature map.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax


def _pair(output_size) -> tuple[int, int]:
  if isinstance(output_size, int):
    output_size = (output_size, output_size)
  output_size = tuple(output_size)
  if len(output_size) != 2 or not all(isinstance(s, int) and s >= 1 for s in output_size):
    raise ValueError(f"output_size must be an int or (height, width) of positive ints, got {output_size!r}")
  return output_size


def _check_inputs(features, boxes, box_indices):
  features = jnp.asarray(features)
  boxes = jnp.asarray(boxes)
  box_indices = jnp.asarray(box_indices)
  if features.ndim != 4:
    raise ValueError(f"features must be [B, H, W, C] (NHWC), got shape {features.shape}")
  if not jnp.issubdtype(features.dtype, jnp.floating):
    raise ValueError(f"features must be floating point, got {features.dtype}")
  if boxes.ndim != 2 or boxes.shape[1] != 4:
    raise ValueError(f"boxes must be [K, 4] xyxy, got shape {boxes.shape}")
  if box_indices.shape != boxes.shape[:1]:
    raise ValueError(f"box_indices must be [K] = {boxes.shape[:1]}, got shape {box_indices.shape}")
  if not jnp.issubdtype(box_indices.dtype, jnp.integer):
    raise ValueError(f"box_indices must be integers, got {box_indices.dtype}")
  return features, boxes.astype(features.dtype), box_indices


def _axis_sampling_weights(start, bin_size, grid, num_bins: int, size: int, max_grid: int):
  """``[K, num_bins, size]`` weights: each bin's average of 1-D bilinear samples along one axis.

  Args:
    start, bin_size: ``[K]`` RoI start and bin size in feature cells.
    grid: ``[K]`` int samples per bin (<= ``max_grid``).
  """
  bins = jnp.arange(num_bins, dtype=start.dtype)[None, :, None]
  samples = jnp.arange(max_grid, dtype=start.dtype)[None, None, :]
  grid_f = grid.astype(start.dtype)[:, None, None]
  coord = start[:, None, None] + bins * bin_size[:, None, None] + (samples + 0.5) * bin_size[:, None, None] / grid_f
  used = (samples < grid_f) & (coord >= -1.0) & (coord <= size)
  coord = jnp.maximum(coord, 0.0)
  low = jnp.floor(coord).astype(jnp.int32)
  at_edge = low >= size - 1
  low = jnp.where(at_edge, size - 1, low)
  high = jnp.where(at_edge, size - 1, low + 1)
  coord = jnp.where(at_edge, low.astype(coord.dtype), coord)
  fraction = coord - low
  weight_low = jnp.where(used, 1.0 - fraction, 0.0)
  weight_high = jnp.where(used, fraction, 0.0)
  cells = jnp.arange(size)
  weights = ((low[..., None] == cells) * weight_low[..., None] + (high[..., None] == cells) * weight_high[..., None])
  return weights.sum(axis=2) / jnp.maximum(grid_f, 1.0)


def roi_align(features, boxes, box_indices, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False, max_sampling_ratio: int | None = None):
  """RoIAlign with ``torchvision.ops.roi_align`` semantics on NHWC features.

  Args:
    features: ``[B, H, W, C]`` float.
    boxes: ``[K, 4]`` xyxy in input-image coordinates.
    box_indices: ``[K]`` int, the image of each box (an index outside [0, B) gives zeros).
    output_size: ``h`` or ``(h, w)``.
    spatial_scale: feature cells per input pixel (1/16 for a stride-16 map).
    sampling_ratio: samples per bin and axis; ``<= 0`` means adaptive, ``ceil(roi_size / output_size)``.
    aligned: shift the scaled box by -0.5 (pixel-centre alignment) and allow RoIs smaller than a cell.
    max_sampling_ratio: static cap on adaptive samples per axis; default ``ceil((H + 1) / h)`` (and the same
      for the width), enough for any RoI inside the map. Larger RoIs are sampled with the cap.

  Returns:
    ``[K, h, w, C]``, differentiable with respect to ``features``.
  """
  features, boxes, box_indices = _check_inputs(features, boxes, box_indices)
  out_h, out_w = _pair(output_size)
  if not isinstance(sampling_ratio, int):
    raise ValueError(f"sampling_ratio must be an int, got {sampling_ratio!r}")
  batch, height, width, _ = features.shape
  offset = 0.5 if aligned else 0.0
  x1, y1, x2, y2 = (boxes[:, i] * spatial_scale - offset for i in range(4))
  roi_w, roi_h = x2 - x1, y2 - y1
  if not aligned:
    roi_w, roi_h = jnp.maximum(roi_w, 1.0), jnp.maximum(roi_h, 1.0)
  bin_h, bin_w = roi_h / out_h, roi_w / out_w
  if sampling_ratio > 0:
    grid_h = jnp.full(boxes.shape[:1], sampling_ratio, jnp.int32)
    grid_w = grid_h
    max_h = max_w = sampling_ratio
  else:
    if max_sampling_ratio is None:
      max_h, max_w = math.ceil((height + 1) / out_h), math.ceil((width + 1) / out_w)
    else:
      max_h = max_w = int(max_sampling_ratio)
    grid_h = jnp.clip(jnp.ceil(roi_h / out_h), 0, max_h).astype(jnp.int32)
    grid_w = jnp.clip(jnp.ceil(roi_w / out_w), 0, max_w).astype(jnp.int32)
  weights_y = _axis_sampling_weights(y1, bin_h, grid_h, out_h, height, max_h)  # [K, h, H]
  weights_x = _axis_sampling_weights(x1, bin_w, grid_w, out_w, width, max_w)  # [K, w, W]
  # Route each RoI's row weights to its own image, then contract rows, then columns.
  image_one_hot = (box_indices[:, None] == jnp.arange(batch)).astype(features.dtype)  # [K, B]
  weights_y = weights_y[:, :, None, :] * image_one_hot[:, None, :, None]  # [K, h, B, H]
  rows = jnp.einsum("kpbh,bhwc->kpwc", weights_y, features, precision=lax.Precision.HIGHEST)
  return jnp.einsum("kqw,kpwc->kpqc", weights_x, rows, precision=lax.Precision.HIGHEST)


def _round_half_away_from_zero(x):
  return jnp.sign(x) * jnp.floor(jnp.abs(x) + 0.5)


def roi_pool(features, boxes, box_indices, output_size, spatial_scale: float = 1.0, roi_batch_size: int = 16):
  """RoIPool (max pooling over integer bins) with ``torchvision.ops.roi_pool`` semantics on NHWC features.

  Args:
    features: ``[B, H, W, C]`` float.
    boxes: ``[K, 4]`` xyxy in input-image coordinates.
    box_indices: ``[K]`` int image of each box (clamped to [0, B)).
    output_size: ``h`` or ``(h, w)``.
    spatial_scale: feature cells per input pixel.
    roi_batch_size: RoIs processed together (memory ``roi_batch_size * w * H * W * C``).

  Returns:
    ``[K, h, w, C]``; 0 for a bin that falls outside the map. Differentiable with respect to ``features``
    (the gradient of a bin goes to its maximum; ties share it, where torchvision gives it to the first).
  """
  features, boxes, box_indices = _check_inputs(features, boxes, box_indices)
  out_h, out_w = _pair(output_size)
  _, height, width, _ = features.shape
  start_x, start_y, end_x, end_y = (_round_half_away_from_zero(boxes[:, i] * spatial_scale) for i in range(4))
  roi_w = jnp.maximum(end_x - start_x + 1, 1.0)
  roi_h = jnp.maximum(end_y - start_y + 1, 1.0)

  def bin_masks(start, roi_size, num_bins, size):
    bins = jnp.arange(num_bins, dtype=roi_size.dtype)
    bin_size = roi_size[:, None] / num_bins
    lo = jnp.clip(jnp.floor(bins * bin_size) + start[:, None], 0, size)
    hi = jnp.clip(jnp.ceil((bins + 1) * bin_size) + start[:, None], 0, size)
    cells = jnp.arange(size, dtype=roi_size.dtype)
    return (cells >= lo[..., None]) & (cells < hi[..., None])  # [K, bins, size]

  rows = bin_masks(start_y, roi_h, out_h, height)
  cols = bin_masks(start_x, roi_w, out_w, width)

  def pool_one(args):
    image_index, row_mask, col_mask = args
    image = features[image_index]  # [H, W, C]
    neg_inf = jnp.asarray(-jnp.inf, features.dtype)
    per_col = jnp.max(jnp.where(col_mask[:, None, :, None], image[None], neg_inf), axis=2)  # [w, H, C]
    pooled = jnp.max(jnp.where(row_mask[:, None, :, None], per_col[None], neg_inf), axis=2)  # [h, w, C]
    empty = ~(row_mask.any(-1)[:, None] & col_mask.any(-1)[None, :])
    return jnp.where(empty[..., None], 0.0, pooled)

  indices = jnp.clip(box_indices, 0, features.shape[0] - 1)
  return lax.map(pool_one, (indices, rows, cols), batch_size=roi_batch_size)



def fpn_levels(boxes, min_level: int, max_level: int, canonical_size: float = 224.0, canonical_level: int = 4):
  """Pyramid level of each RoI (Lin et al., "Feature Pyramid Networks", CVPR 2017, eq. 1):
  ``floor(canonical_level + log2(sqrt(w * h) / canonical_size))`` clamped to ``[min_level, max_level]``.

  Args:
    boxes: ``[..., 4]`` xyxy pixels.

  Returns:
    ``[...]`` int32 levels.
  """
  boxes = jnp.asarray(boxes)
  scale = jnp.sqrt(jnp.maximum((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]), 1e-6))
  level = jnp.floor(canonical_level + jnp.log2(scale / canonical_size) + 1e-6)
  return jnp.clip(level, min_level, max_level).astype(jnp.int32)


def multilevel_roi_align(features, boxes, box_indices, output_size, spatial_scales, levels, **kwargs):
  """RoIAlign of each RoI on its own pyramid level (``fpn_levels``).

  Every level is sampled for every RoI and the RoI's own level selected: ``L`` times the work of one
  ``roi_align``, but static shapes.

  Args:
    features: sequence of ``[B, H_l, W_l, C]`` maps, finest first.
    boxes, box_indices, output_size: as ``roi_align``.
    spatial_scales: feature cells per input pixel of each map.
    levels: ``[K]`` int, index into ``features`` of each RoI.
    **kwargs: ``sampling_ratio``, ``aligned``, ``max_sampling_ratio``.

  Returns:
    ``[K, h, w, C]``.
  """
  if len(features) != len(spatial_scales):
    raise ValueError(f"{len(features)} feature maps but {len(spatial_scales)} spatial_scales")
  pooled = jnp.zeros(())
  for level, (feature, scale) in enumerate(zip(features, spatial_scales)):
    aligned = roi_align(feature, boxes, box_indices, output_size, spatial_scale=scale, **kwargs)
    pooled = jnp.where((levels == level)[:, None, None, None], aligned, pooled)
  return pooled
