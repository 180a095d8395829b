"""Detection metrics: COCO AP/AR, PASCAL VOC AP, and a streaming evaluator fed with padded batches.

``coco_evaluate`` (jvision/metrics/coco.py) reproduces pycocotools' COCOeval for boxes; ``voc_evaluate``
(jvision/metrics/voc.py) the VOC2007 11-point and VOC2010+ all-point AP. ``DetectionEvaluator`` is what a
training loop uses: it takes the padded, fixed-shape arrays of a jitted eval step, batch by batch, keeps only the
valid entries on the host, and computes both protocols at the end; given instance masks it also reports COCO
mask AP (``iouType='segm'``), keeping each mask as COCO RLE (``jvision.ops.rle``) so memory stays small.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from jvision.metrics import coco, voc
from jvision.ops import rle
from jvision.metrics.coco import coco_evaluate
from jvision.metrics.voc import voc_evaluate

__all__ = ["coco_evaluate", "voc_evaluate", "DetectionEvaluator"]


def _host(name: str, value, shape: tuple, dtype=None):
  array = np.asarray(value)
  if dtype is not None:
    array = array.astype(dtype)
  if array.shape != shape:
    raise ValueError(f"{name} must have shape {list(shape)}, got {list(array.shape)}")
  return array


def _check_finite(name: str, values):
  if not np.all(np.isfinite(values)):
    raise ValueError(f"{name} has NaN or infinite values at valid (unpadded) entries")


def _encode_masks(name: str, masks, rows, cols, leading: tuple, sizes) -> list[dict]:
  """COCO RLE of the masks at ``(rows[i], cols[i])`` of ``[B, N, H, W]`` arrays or ``[B][N]`` RLE dicts."""
  if not isinstance(masks, (list, tuple)):
    masks = np.asarray(masks)
    if masks.ndim != 4 or masks.shape[:2] != leading:
      raise ValueError(f"{name} must be [B, N, H, W] with [B, N] = {list(leading)}, got shape {list(masks.shape)}")
    if sizes is not None and np.any(sizes > np.array(masks.shape[2:])):
      raise ValueError(f"image_sizes exceed the {name} size {list(masks.shape[2:])}")
    crop = (lambda i: (slice(0, sizes[i, 0]), slice(0, sizes[i, 1]))) if sizes is not None else (
        lambda i: (slice(None), slice(None)))
    return [rle.mask_to_rle(masks[i, j][crop(i)] > 0.5) for i, j in zip(rows, cols)]
  if len(masks) != leading[0]:
    raise ValueError(f"{name} as RLE must be a sequence of B = {leading[0]} per-image sequences")
  records = []
  for i, j in zip(rows, cols):
    record = masks[i][j]
    if not isinstance(record, Mapping) or "counts" not in record or "size" not in record:
      raise ValueError(f"{name}[{i}][{j}] must be a COCO RLE dict with 'size' and 'counts', got "
                       f"{type(record).__name__}")
    records.append(record)
  return records


class DetectionEvaluator:
  """Streaming COCO + VOC evaluation over padded batches.

  Usage::

    evaluator = DetectionEvaluator(num_classes=20)
    for batch, predictions in ...:
      evaluator.add_batch(batch["image_id"], predictions["boxes"], predictions["scores"],
                          predictions["classes"], predictions["valid"], batch["boxes"], batch["classes"],
                          batch["valid"], gt_difficult=batch.get("difficult"))
    metrics = evaluator.result()

  Boxes are xyxy pixels. For COCO, ground-truth areas are box areas and ``gt_crowd`` marks crowd regions; for
  VOC, crowd boxes are treated as difficult (neither rewarded nor penalised). ``gt_difficult`` is ignored by
  COCO.

  Instance masks (``pred_masks`` and ``gt_masks`` in every ``add_batch``, or in none) add the COCO mask stats
  ``mask_AP`` ... ``mask_ARl`` and ``mask_COCO_per_class_AP``. As pycocotools evaluates results that carry
  both a box and a mask (what Detectron2 and torchvision write), a ground truth's area is its mask's pixel
  count and a detection's area, for the small/medium/large ranges, is its box's.
  """

  def __init__(self, num_classes: int | None = None, iou_threshold_voc: float = 0.5):
    """Args: ``num_classes`` (classes are 0..num_classes-1; default: every class seen) and the VOC IoU."""
    self.num_classes = num_classes
    self.iou_threshold_voc = iou_threshold_voc
    self._images: list[np.ndarray] = []
    self._gt: list[tuple[np.ndarray, ...]] = []
    self._det: list[tuple[np.ndarray, ...]] = []
    self._gt_masks: list[dict] = []
    self._det_masks: list[dict] = []
    self._with_masks: bool | None = None
    self._num_images = 0

  def add_batch(self, image_ids, pred_boxes, pred_scores, pred_classes, pred_valid, gt_boxes, gt_classes,
                gt_valid=None, gt_difficult=None, gt_crowd=None, pred_masks=None, gt_masks=None,
                image_sizes=None):
    """Adds one batch.

    Args:
      image_ids: ``[B]`` ints, unique over the whole evaluation.
      pred_boxes: ``[B, D, 4]`` xyxy; pred_scores ``[B, D]``; pred_classes ``[B, D]`` ints.
      pred_valid: ``[B, D]`` bool, or None for ``pred_classes >= 0``.
      gt_boxes: ``[B, G, 4]`` xyxy; gt_classes ``[B, G]`` ints.
      gt_valid: ``[B, G]`` bool; default ``gt_classes >= 0``.
      gt_difficult, gt_crowd: optional ``[B, G]`` bool.
      pred_masks, gt_masks: optional instance masks, both or neither: ``[B, D, H, W]`` / ``[B, G, H, W]`` full-
        image masks (foreground where ``> 0.5``; bool, 0/1 or probabilities), or ``[B][D]`` / ``[B][G]``
        nested sequences of COCO RLE dicts (entries at invalid positions are not read).
      image_sizes: optional ``[B, 2]`` (height, width): array masks are cropped to ``[:height, :width]`` (the
        image without its batch padding) before encoding.
    """
    image_ids = np.asarray(image_ids).reshape(-1)
    b = len(image_ids)
    pred_boxes = _host("pred_boxes", pred_boxes, (b,) + np.shape(pred_boxes)[1:2] + (4,), np.float64)
    d = pred_boxes.shape[1]
    pred_scores = _host("pred_scores", pred_scores, (b, d), np.float64)
    pred_classes = _host("pred_classes", pred_classes, (b, d), np.int64)
    pred_valid = pred_classes >= 0 if pred_valid is None else _host("pred_valid", pred_valid, (b, d), bool)
    gt_boxes = _host("gt_boxes", gt_boxes, (b,) + np.shape(gt_boxes)[1:2] + (4,), np.float64)
    g = gt_boxes.shape[1]
    gt_classes = _host("gt_classes", gt_classes, (b, g), np.int64)
    gt_valid = gt_classes >= 0 if gt_valid is None else _host("gt_valid", gt_valid, (b, g), bool)
    no_flags = np.zeros((b, g), bool)
    gt_difficult = no_flags if gt_difficult is None else _host("gt_difficult", gt_difficult, (b, g), bool)
    gt_crowd = no_flags if gt_crowd is None else _host("gt_crowd", gt_crowd, (b, g), bool)
    _check_finite("pred_boxes", pred_boxes[pred_valid])
    _check_finite("pred_scores", pred_scores[pred_valid])
    _check_finite("gt_boxes", gt_boxes[gt_valid])
    if np.any(pred_classes[pred_valid] < 0) or np.any(gt_classes[gt_valid] < 0):
      raise ValueError("valid predictions and ground truth must have classes >= 0")
    if self.num_classes is not None and (np.any(pred_classes[pred_valid] >= self.num_classes)
                                        or np.any(gt_classes[gt_valid] >= self.num_classes)):
      raise ValueError(f"classes must be < num_classes={self.num_classes}")
    dense = self._num_images + np.arange(b)
    gi, gj = np.nonzero(gt_valid)
    di, dj = np.nonzero(pred_valid)
    with_masks = pred_masks is not None
    if with_masks != (gt_masks is not None):
      raise ValueError("give pred_masks and gt_masks together (mask AP needs both) or neither")
    if self._with_masks is not None and with_masks != self._with_masks:
      raise ValueError("every add_batch must give instance masks, or none may")
    if with_masks:
      sizes = None if image_sizes is None else _host("image_sizes", image_sizes, (b, 2), np.int64)
      det_masks = _encode_masks("pred_masks", pred_masks, di, dj, (b, d), sizes)
      new_gt_masks = _encode_masks("gt_masks", gt_masks, gi, gj, (b, g), sizes)
    self._with_masks = with_masks
    self._num_images += b
    self._images.append(image_ids)
    self._gt.append((dense[gi], gt_classes[gi, gj], gt_boxes[gi, gj], gt_difficult[gi, gj], gt_crowd[gi, gj]))
    self._det.append((dense[di], pred_classes[di, dj], pred_boxes[di, dj], pred_scores[di, dj]))
    if with_masks:
      self._det_masks.extend(det_masks)
      self._gt_masks.extend(new_gt_masks)

  def result(self) -> dict[str, Any]:
    """COCO stats (``AP``, ``AP50``, ..., ``ARl``, ``COCO_per_class_AP``), VOC (``VOC_mAP``, ``VOC07_mAP``,
    ``VOC_per_class_AP``, ``VOC07_per_class_AP``), and with masks ``mask_AP`` ... ``mask_ARl`` and
    ``mask_COCO_per_class_AP``; classes keyed by their integer id."""
    if not self._images:
      raise ValueError("result() called before any add_batch()")
    image_ids = np.concatenate(self._images)
    if len(np.unique(image_ids)) != len(image_ids):
      raise ValueError("an image_id was added more than once")
    gt_image, gt_class, gt_boxes, gt_difficult, gt_crowd = (np.concatenate(c) for c in zip(*self._gt))
    det_image, det_class, det_boxes, det_scores = (np.concatenate(c) for c in zip(*self._det))
    if self.num_classes is not None:
      classes = np.arange(self.num_classes)
    else:
      classes = np.unique(np.concatenate([gt_class, det_class]))
    # COCO sorts images by id: map the arrival index to the rank of the image id.
    rank_of_arrival = np.empty(len(image_ids), np.int64)
    rank_of_arrival[np.argsort(image_ids, kind="stable")] = np.arange(len(image_ids))
    category = np.searchsorted(classes, gt_class), np.searchsorted(classes, det_class)
    xywh = lambda boxes: np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    gt_xywh = xywh(gt_boxes)
    precision, recall = coco.evaluate_arrays(
        len(image_ids), len(classes), rank_of_arrival[gt_image], category[0], gt_xywh,
        gt_xywh[:, 2] * gt_xywh[:, 3], gt_crowd, np.arange(1, len(gt_image) + 1), rank_of_arrival[det_image],
        category[1], xywh(det_boxes), det_scores)
    result: dict[str, Any] = coco.summarize(precision, recall)
    result["COCO_per_class_AP"] = dict(zip(classes.tolist(), coco.per_class_average_precision(precision).tolist()))
    if self._with_masks:
      gt_masks = rle.RunLengthMasks.from_rles(self._gt_masks, "gt mask")
      det_masks = rle.RunLengthMasks.from_rles(self._det_masks, "predicted mask")
      det_xywh = xywh(det_boxes)
      precision, recall = coco.evaluate_arrays(
          len(image_ids), len(classes), rank_of_arrival[gt_image], category[0], gt_xywh,
          gt_masks.areas.astype(np.float64), gt_crowd, np.arange(1, len(gt_image) + 1), rank_of_arrival[det_image],
          category[1], det_xywh, det_scores, det_xywh[:, 2] * det_xywh[:, 3], gt_masks, det_masks)
      result.update({f"mask_{name}": value for name, value in coco.summarize(precision, recall).items()})
      result["mask_COCO_per_class_AP"] = dict(zip(classes.tolist(),
                                                 coco.per_class_average_precision(precision).tolist()))
    ap, ap07 = voc.evaluate_arrays(gt_image, gt_class, gt_boxes, gt_difficult | gt_crowd, det_image, det_class,
                                   det_boxes, det_scores, classes, self.iou_threshold_voc)
    summary = voc.summarize(classes, ap, ap07)
    result.update({"VOC_mAP": summary["mAP"], "VOC07_mAP": summary["mAP07"], "VOC_per_class_AP": summary["AP"],
                   "VOC07_per_class_AP": summary["AP07"]})
    return result
