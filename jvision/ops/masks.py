"""Instance-mask array ops of Mask R-CNN (He et al., "Mask R-CNN", ICCV 2017), with static shapes.

* ``mask_targets``: the training target of each RoI's mask branch (section 3, "Training"): the RoI's matched
  ground-truth mask cropped and resized to ``size x size`` by RoIAlign (``jvision.ops.roi.roi_align`` with
  ``aligned=True`` and adaptive sampling), then binarized at ``>= 0.5``; this is Detectron2's
  ``BitMasks.crop_and_resize``. ``threshold=None, aligned=False`` gives torchvision's soft targets
  (``project_masks_on_boxes``).
* ``paste_masks``: the inference step that puts each ``M x M`` mask probability map back into the image
  (section 3, "Inference"): every image pixel whose centre ``(x + 0.5, y + 0.5)`` falls at a point of the box
  samples the mask bilinearly, with zeros outside the ``M x M`` grid, and the result is binarized at
  ``>= threshold``. These are the semantics of Detectron2's ``paste_masks_in_image`` (``grid_sample`` with
  ``align_corners=False``) in continuous box coordinates: a mask of ones pasted into an integer box
  ``[x1, y1, x2, y2]`` covers exactly pixels ``x1..x2-1`` by ``y1..y2-1``. (torchvision's
  ``paste_masks_in_image`` treats ``x2`` and ``y2`` as inclusive pixel indices, pads the mask by one pixel
  and resizes it to integer box sizes, so it covers one more row and column; its integer rounding also has no
  static-shape form.) Bilinear sampling is separable, so the paste is two matrix products per RoI.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jvision.ops.roi import roi_align


def mask_targets(gt_masks, rois, matched_gt, size: int = 28, threshold: float | None = 0.5, aligned: bool = True,
                 roi_batch_size: int = 16):
  """Per-RoI mask targets: RoIAlign of the matched ground-truth mask inside the RoI.

  Args:
    gt_masks: ``[G, H, W]`` ground-truth instance masks of one image (bool or float in [0, 1]).
    rois: ``[R, 4]`` xyxy in the masks' pixel coordinates.
    matched_gt: ``[R]`` int index of each RoI's ground truth; outside ``[0, G)`` (e.g. -1 for background
      RoIs, which the mask loss ignores) gives an all-zero target.
    size: output side ``M``.
    threshold: targets are ``roi_align(...) >= threshold`` as 0/1 floats; ``None`` keeps the soft values.
    aligned: RoIAlign's half-pixel alignment; ``threshold=None, aligned=False`` is torchvision's target.
    roi_batch_size: RoIs aligned together (memory ``roi_batch_size * M * (H + W) * max samples``).

  Returns:
    ``[R, M, M]`` float32.
  """
  gt_masks, rois, matched_gt = jnp.asarray(gt_masks), jnp.asarray(rois), jnp.asarray(matched_gt)
  if gt_masks.ndim != 3:
    raise ValueError(f"gt_masks must be [G, H, W], got shape {gt_masks.shape}")
  if rois.ndim != 2 or rois.shape[1] != 4:
    raise ValueError(f"rois must be [R, 4] xyxy, got shape {rois.shape}")
  if matched_gt.shape != rois.shape[:1] or not jnp.issubdtype(matched_gt.dtype, jnp.integer):
    raise ValueError(f"matched_gt must be [R] = {rois.shape[:1]} integers, got {matched_gt.shape} "
                     f"{matched_gt.dtype}")
  num_gt = gt_masks.shape[0]
  if num_gt == 0:
    return jnp.zeros((rois.shape[0], size, size), jnp.float32)
  masks = gt_masks.astype(jnp.float32)

  def align_one(args):
    box, index = args
    mask = masks[jnp.clip(index, 0, num_gt - 1)]
    target = roi_align(mask[None, :, :, None], box[None].astype(jnp.float32), jnp.zeros((1,), jnp.int32), size,
                       spatial_scale=1.0, sampling_ratio=0, aligned=aligned)[0, :, :, 0]
    return jnp.where((index >= 0) & (index < num_gt), target, 0.0)

  targets = lax.map(align_one, (rois, matched_gt), batch_size=roi_batch_size)
  if threshold is None:
    return targets
  return (targets >= threshold).astype(jnp.float32)


def _paste_weights(low, high, mask_size: int, image_size: int):
  """``[R, image_size, mask_size]`` bilinear weights (zero outside the grid) of each pixel centre along one
  axis, for boxes ``[low, high)``."""
  extent = high - low
  pixel_centres = jnp.arange(image_size, dtype=jnp.float32) + 0.5
  # grid_sample(align_corners=False): normalized box coordinate in [0, 1] -> mask cell coordinate.
  coordinate = (pixel_centres[None, :] - low[:, None]) / jnp.where(extent > 0, extent, 1.0)[:, None]
  coordinate = coordinate * mask_size - 0.5
  cells = jnp.arange(mask_size, dtype=jnp.float32)
  weights = jnp.maximum(0.0, 1.0 - jnp.abs(coordinate[:, :, None] - cells[None, None, :]))
  return jnp.where((extent > 0)[:, None, None], weights, 0.0)


def paste_masks(masks, boxes, image_size: tuple[int, int], threshold: float | None = 0.5):
  """Pastes each RoI's mask probabilities into its box on an empty image.

  Args:
    masks: ``[R, M, M]`` (or ``[R, Mh, Mw]``) probabilities in [0, 1].
    boxes: ``[R, 4]`` xyxy pixels; a box of zero width or height pastes nothing.
    image_size: static ``(H, W)``.
    threshold: output ``pasted >= threshold`` (Detectron2's rule); ``None`` returns the float probabilities.

  Returns:
    ``[R, H, W]`` bool (or float32 with ``threshold=None``).
  """
  masks, boxes = jnp.asarray(masks), jnp.asarray(boxes)
  if masks.ndim != 3:
    raise ValueError(f"masks must be [R, M, M], got shape {masks.shape}")
  if boxes.shape != (masks.shape[0], 4):
    raise ValueError(f"boxes must be [R, 4] = {(masks.shape[0], 4)} xyxy, got shape {boxes.shape}")
  if len(image_size) != 2 or not all(isinstance(s, int) and s >= 1 for s in image_size):
    raise ValueError(f"image_size must be a static (height, width) of positive ints, got {image_size!r}")
  height, width = image_size
  boxes = boxes.astype(jnp.float32)
  rows = _paste_weights(boxes[:, 1], boxes[:, 3], masks.shape[1], height)  # [R, H, Mh]
  cols = _paste_weights(boxes[:, 0], boxes[:, 2], masks.shape[2], width)  # [R, W, Mw]
  masks = masks.astype(jnp.float32)
  pasted = jnp.einsum("rhi,rij->rhj", rows, masks, precision=lax.Precision.HIGHEST)
  pasted = jnp.einsum("rhj,rwj->rhw", pasted, cols, precision=lax.Precision.HIGHEST)
  if threshold is None:
    return pasted
  return pasted >= threshold

