"""PASCAL VOC detection AP (Everingham et al., "The PASCAL Visual Object Classes Challenge", IJCV 2010).

Per class, detections are visited in descending score order (stable: image order, then detection order,
break ties); each is matched to the ground truth of its image with the highest IoU (the first one on ties). It
is a true positive when that IoU is ``> iou_threshold`` (0.5) and the ground truth is neither ``difficult``
nor already taken, ignored (neither true nor false positive) when the ground truth is difficult, and a false
positive otherwise. Recall counts only non-difficult ground truth. Two areas under the precision/recall curve:

* ``AP07``: the VOC2007 11-point metric, the mean over recall r in {0, 0.1, ..., 1} of the best precision at
  recall >= r;
* ``AP``: the VOC2010+ all-point metric, the exact area under the monotone (right-to-left maximum) precision
  envelope.

This follows the devkit as re-implemented in py-faster-rcnn's ``voc_eval.py``. The devkit's integer-pixel
convention (width = x2 - x1 + 1) is ``legacy_coordinates=True``; by default boxes are continuous.

Matching needs no loop: a detection's best ground truth does not depend on earlier detections, so a true
positive is simply the first detection (in score order) whose best match is a given non-difficult ground truth.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def _voc_iou(det_boxes, gt_boxes, legacy_coordinates: bool):
  """Elementwise IoU of ``[E, 4]`` xyxy pairs."""
  one = 1.0 if legacy_coordinates else 0.0
  width = np.minimum(det_boxes[:, 2], gt_boxes[:, 2]) - np.maximum(det_boxes[:, 0], gt_boxes[:, 0]) + one
  height = np.minimum(det_boxes[:, 3], gt_boxes[:, 3]) - np.maximum(det_boxes[:, 1], gt_boxes[:, 1]) + one
  width, height = np.maximum(width, 0.0), np.maximum(height, 0.0)
  intersection = width * height
  det_area = (det_boxes[:, 2] - det_boxes[:, 0] + one) * (det_boxes[:, 3] - det_boxes[:, 1] + one)
  gt_area = (gt_boxes[:, 2] - gt_boxes[:, 0] + one) * (gt_boxes[:, 3] - gt_boxes[:, 1] + one)
  union = det_area + gt_area - intersection
  return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def average_precision_11_point(recall, precision) -> float:
  """VOC2007: mean over r in {0, 0.1, ..., 1} of max(precision[recall >= r]) (0 if none)."""
  total = 0.0
  for threshold in np.arange(0.0, 1.1, 0.1):
    reached = recall >= threshold
    total += (np.max(precision[reached]) if np.any(reached) else 0.0) / 11.0
  return float(total)


def average_precision_all_points(recall, precision) -> float:
  """VOC2010+: area under the precision envelope, summed where recall changes."""
  recall = np.concatenate([[0.0], recall, [1.0]])
  precision = np.concatenate([[0.0], precision, [0.0]])
  precision = np.maximum.accumulate(precision[::-1])[::-1]
  changes = np.flatnonzero(recall[1:] != recall[:-1])
  return float(np.sum((recall[changes + 1] - recall[changes]) * precision[changes + 1]))


def evaluate_arrays(gt_image, gt_label, gt_boxes, gt_difficult, det_image, det_label, det_boxes, det_scores,
                    classes: Sequence[int], iou_threshold: float = 0.5, legacy_coordinates: bool = False):
  """VOC AP per class on flat arrays.

  Args:
    gt_image, gt_label, gt_boxes, gt_difficult: ``[G]`` ints, ``[G]`` ints, ``[G, 4]`` xyxy, ``[G]`` bool.
    det_image, det_label, det_boxes, det_scores: ``[D]``, ``[D]``, ``[D, 4]`` xyxy, ``[D]``; detections in
      image order, then detection order (this only matters for tied scores).
    classes: the labels to evaluate.

  Returns:
    ``(ap_all_points [C], ap_11_point [C])``, -1 for a class without non-difficult ground truth.
  """
  classes = np.asarray(classes, np.int64)
  ap = -np.ones(len(classes))
  ap07 = -np.ones(len(classes))
  # Key every box by (label, image) so that a detection's candidates are one contiguous run of ground truth.
  num_images = max(int(max(gt_image.max(initial=-1), det_image.max(initial=-1))) + 1, 1)
  gt_key = gt_label.astype(np.int64) * num_images + gt_image
  gt_order = np.argsort(gt_key, kind="stable")
  gt_key, gt_boxes, gt_difficult = gt_key[gt_order], gt_boxes[gt_order], gt_difficult[gt_order]
  det_key = det_label.astype(np.int64) * num_images + det_image
  run_start = np.searchsorted(gt_key, det_key, side="left")
  run_count = np.searchsorted(gt_key, det_key, side="right") - run_start

  # Best ground truth of every detection (first index on ties, as np.argmax).
  best_iou = np.full(len(det_key), -np.inf)
  best_gt = np.full(len(det_key), -1)
  has_gt = np.flatnonzero(run_count > 0)
  if len(has_gt):
    counts = run_count[has_gt]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    entry_det = np.repeat(np.arange(len(has_gt)), counts)
    entry_gt = run_start[has_gt][entry_det] + np.arange(offsets[-1]) - offsets[entry_det]
    iou = _voc_iou(det_boxes[has_gt][entry_det], gt_boxes[entry_gt], legacy_coordinates)
    best = np.maximum.reduceat(iou, offsets[:-1])
    first = np.minimum.reduceat(np.where(iou == best[entry_det], np.arange(len(iou)), len(iou)), offsets[:-1])
    best_iou[has_gt] = best
    best_gt[has_gt] = entry_gt[first]

  hit = best_iou > iou_threshold
  hit_difficult = hit & (gt_difficult[np.maximum(best_gt, 0)] if len(gt_difficult) else False)
  for c, label in enumerate(classes):
    num_positive = int(np.count_nonzero((gt_key // num_images == label) & ~gt_difficult))
    if num_positive == 0:
      continue
    in_class = np.flatnonzero(det_label == label)
    order = in_class[np.argsort(-det_scores[in_class], kind="stable")]
    counted = hit[order] & ~hit_difficult[order]
    true_positive = np.zeros(len(order), bool)
    _, first_hit = np.unique(best_gt[order][counted], return_index=True)
    true_positive[np.flatnonzero(counted)[first_hit]] = True
    false_positive = ~true_positive & ~hit_difficult[order]
    tp = np.cumsum(true_positive).astype(float)
    fp = np.cumsum(false_positive).astype(float)
    recall = tp / num_positive
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    ap[c] = average_precision_all_points(recall, precision)
    ap07[c] = average_precision_11_point(recall, precision)
  return ap, ap07


def _per_image_arrays(records: Sequence[Mapping[str, Any]], what: str, fields: Sequence[str]):
  columns = {field: [] for field in fields}
  images = []
  for index, record in enumerate(records):
    boxes = np.asarray(record["boxes"], np.float64).reshape(-1, 4) if "boxes" in record else None
    if boxes is None:
      raise ValueError(f"{what} {index} has no 'boxes'")
    images.append(np.full(len(boxes), index, np.int64))
    columns["boxes"].append(boxes)
    for field in fields:
      if field == "boxes":
        continue
      if field == "difficult" and field not in record:
        values = np.zeros(len(boxes), bool)
      elif field not in record:
        raise ValueError(f"{what} {index} has no {field!r}")
      else:
        values = np.asarray(record[field]).reshape(-1)
      if len(values) != len(boxes):
        raise ValueError(f"{what} {index}: {field!r} has {len(values)} entries for {len(boxes)} boxes")
      columns[field].append(values)
  concatenated = {field: np.concatenate(values) if values else np.zeros((0, 4) if field == "boxes" else (0,))
                  for field, values in columns.items()}
  return np.concatenate(images) if images else np.zeros((0,), np.int64), concatenated


def voc_evaluate(ground_truth: Sequence[Mapping[str, Any]], detections: Sequence[Mapping[str, Any]],
                 classes: Sequence[int] | None = None, iou_threshold: float = 0.5,
                 legacy_coordinates: bool = False) -> dict[str, Any]:
  """PASCAL VOC AP per class and mAP, 11-point (VOC2007) and all-point (VOC2010+).

  Args:
    ground_truth: one dict per image: ``boxes [G, 4]`` xyxy, ``labels [G]``, optional ``difficult [G]``.
    detections: one dict per image, in the same order: ``boxes [D, 4]`` xyxy, ``scores [D]``, ``labels [D]``.
    classes: labels to evaluate; default every label in the ground truth.
    iou_threshold: a detection matches when IoU ``>`` this.
    legacy_coordinates: the devkit's integer-pixel boxes (areas use ``x2 - x1 + 1``).

  Returns:
    ``{"mAP", "mAP07", "AP": {label: ap}, "AP07": {label: ap}}``. A class without non-difficult ground truth
    has AP -1 and is left out of the means (mAP is -1 if no class has any).
  """
  if len(ground_truth) != len(detections):
    raise ValueError(f"ground_truth has {len(ground_truth)} images but detections has {len(detections)}")
  gt_image, gt = _per_image_arrays(ground_truth, "ground_truth image", ("boxes", "labels", "difficult"))
  det_image, det = _per_image_arrays(detections, "detections image", ("boxes", "scores", "labels"))
  for name, labels in (("ground_truth", gt["labels"]), ("detections", det["labels"])):
    if np.any(labels < 0):
      raise ValueError(f"{name} labels must be >= 0, got {int(labels.min())}")
  if classes is None:
    classes = np.unique(gt["labels"].astype(np.int64)).tolist()
  ap, ap07 = evaluate_arrays(gt_image, gt["labels"].astype(np.int64), gt["boxes"], gt["difficult"].astype(bool),
                             det_image, det["labels"].astype(np.int64), det["boxes"],
                             det["scores"].astype(np.float64), classes, iou_threshold, legacy_coordinates)
  return summarize(classes, ap, ap07)


def summarize(classes: Sequence[int], ap, ap07) -> dict[str, Any]:
  """Per-class dicts and the means over defined classes."""
  defined = ap > -1
  return {"mAP": float(ap[defined].mean()) if defined.any() else -1.0,
          "mAP07": float(ap07[defined].mean()) if defined.any() else -1.0,
          "AP": dict(zip([int(c) for c in classes], ap.tolist())),
          "AP07": dict(zip([int(c) for c in classes], ap07.tolist()))}
