"""COCO box and instance-mask evaluation (Lin et al., "Microsoft COCO", ECCV 2014), vectorized with numpy.

Reproduces ``pycocotools.cocoeval.COCOeval`` for ``iouType='bbox'`` and ``'segm'`` number for number: IoU thresholds
0.50:0.05:0.95, 101 recall points, max detections (1, 10, 100), area ranges all/small/medium/large, crowd
ground truth matched by intersection over the detection's area and never counted as a miss, and the same
quirks (detections beyond the 100 best per image and category are dropped before matching; ties in score are
broken by image order then by rank; a detection matched to a ground truth whose annotation id is 0 counts as
unmatched, as in pycocotools). For ``'segm'`` the IoU is that of the RLE masks, computed on their runs
(``jvision.ops.rle``; polygons are rasterized exactly as pycocotools does, ``jvision.ops.polygons``). Ground
truth falls in an area range by its ``area`` field and a detection by its box area ``w * h`` when the
detections carry boxes, else by its mask area (what pycocotools' ``loadRes`` stores).

pycocotools matches detections to ground truth one (image, category, area range, IoU threshold) at a time in
Python. Here the greedy matching runs once per detection *rank*: step ``r`` matches the ``r``-th best
detection of every (image, category) pair against all the pair's ground truth, for all area ranges and IoU
thresholds at once, as segment reductions over a flat list of (detection, ground truth) IoUs. The
precision/recall accumulation is vectorized per category.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from jvision.ops import polygons, rle

IOU_TYPES = ("bbox", "segm")
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
# Exactly the expressions of pycocotools' Params, so that threshold comparisons are bit-identical.
IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
MAX_DETECTIONS = (1, 10, 100)
AREA_RANGES = ((0 ** 2, 1e5 ** 2), (0 ** 2, 32 ** 2), (32 ** 2, 96 ** 2), (96 ** 2, 1e5 ** 2))


def pairwise_coco_iou(det_boxes, gt_boxes, gt_crowd):
  """Elementwise IoU of ``[E, 4]`` xywh detection/ground-truth pairs, pycocotools' ``bbIou`` arithmetic.

  For a crowd ground truth the "union" is the detection's area. Computed in float64 with the same operation
  order as pycocotools' C code so that comparisons with thresholds agree bit for bit.
  """
  dx, dy, dw, dh = det_boxes.T
  gx, gy, gw, gh = gt_boxes.T
  width = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
  height = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
  overlap = (width > 0) & (height > 0)
  intersection = width * height
  det_area = dw * dh
  union = np.where(gt_crowd, det_area, det_area + gw * gh - intersection)
  return np.where(overlap, intersection / np.where(overlap, union, 1.0), 0.0)


def _segment_last_argmax(values, mask, starts, segment_of_entry):
  """Per segment of axis 0: max of ``values`` where ``mask`` and the last entry index attaining it.

  Returns ``(max, index)``, each ``[S, ...]``; ``index`` is -1 (and ``max`` -1) where no entry is masked in.
  """
  masked = np.where(mask, values, -1.0)
  best = np.maximum.reduceat(masked, starts, axis=0)
  entry = np.arange(len(values)).reshape((-1,) + (1,) * (values.ndim - 1))
  at_best = mask & (masked == best[segment_of_entry])
  index = np.maximum.reduceat(np.where(at_best, entry, -1), starts, axis=0)
  return best, index


def _match(det_pair, det_rank, pair_iou, gt_pair_start, gt_pair_count, gt_crowd, gt_ignored):
  """Greedy COCO matching of every detection for every area range and IoU threshold.

  Args:
    det_pair, det_rank: ``[D]``, ``[D]`` kept detections (rank < 100 in their pair).
    pair_iou: ``(det_index [E], gt_index [E]) -> [E]`` IoU of elementwise pairs (crowd-aware).
    gt_pair_start, gt_pair_count: ``[P]`` where each pair's ground truth starts in the gt arrays and how
      many it has (ground truth sorted by pair, stable).
    gt_crowd: ``[G]``.
    gt_ignored: ``[G, A]`` crowd or area outside the range.

  Returns:
    ``matched_gt [D, A, T]``: the index of the matched ground truth or -1.
  """
  num_areas, num_thresholds = gt_ignored.shape[1], len(IOU_THRESHOLDS)
  matched_gt = np.full((len(det_pair), num_areas, num_thresholds), -1, np.int64)
  taken = np.zeros((len(gt_crowd), num_areas, num_thresholds), bool)
  counts = gt_pair_count[det_pair]
  has_gt = np.flatnonzero(counts > 0)
  if len(has_gt) == 0:
    return matched_gt
  # Detections that can match, ordered by rank so that each greedy step is a contiguous slice.
  dets = has_gt[np.argsort(det_rank[has_gt], kind="stable")]
  det_counts = counts[dets]
  det_offsets = np.concatenate([[0], np.cumsum(det_counts)])
  entry_det = np.repeat(np.arange(len(dets)), det_counts)
  entry_gt = gt_pair_start[det_pair[dets]][entry_det] + np.arange(det_offsets[-1]) - det_offsets[entry_det]
  entry_iou = pair_iou(dets[entry_det], entry_gt)
  step_bounds = np.searchsorted(det_rank[dets], np.arange(MAX_DETECTIONS[-1] + 1), side="left")
  thresholds = IOU_THRESHOLDS[None, None, :]
  for rank in range(MAX_DETECTIONS[-1]):
    first, last = step_bounds[rank], step_bounds[rank + 1]
    if first == last:
      break
    lo, hi = det_offsets[first], det_offsets[last]
    gts = entry_gt[lo:hi]
    iou = entry_iou[lo:hi, None, None]
    starts = det_offsets[first:last] - lo
    segment = entry_det[lo:hi] - first
    available = ~taken[gts] | gt_crowd[gts, None, None]
    candidate = available & (iou >= thresholds)
    ignored = gt_ignored[gts][:, :, None]
    iou_full = np.broadcast_to(iou, candidate.shape)
    best_kept, index_kept = _segment_last_argmax(iou_full, candidate & ~ignored, starts, segment)
    _, index_ignored = _segment_last_argmax(iou_full, candidate & ignored, starts, segment)
    # Ground truth that counts is preferred; ignored ground truth only when no counted one matches.
    choice = np.where(best_kept >= 0, index_kept, index_ignored)
    chosen_gt = np.where(choice >= 0, gts[np.maximum(choice, 0)], -1)
    matched_gt[dets[first:last]] = chosen_gt
    d, a, t = np.nonzero(chosen_gt >= 0)
    taken[chosen_gt[d, a, t], a, t] = True
  return matched_gt


def _runs_of_needed_detections(det_masks, needed):
  """``(RunLengthMasks, slot)``: ``det_masks`` decoded (only rows ``needed`` if they are RLE dicts), and the
  row of each detection in it."""
  if isinstance(det_masks, rle.RunLengthMasks):
    return det_masks, np.arange(len(det_masks))
  slot = np.full(len(det_masks), -1, np.int64)
  slot[needed] = np.arange(len(needed))
  return rle.RunLengthMasks.from_rles([det_masks[i] for i in needed], "detection mask"), slot


def evaluate_arrays(num_images: int, num_categories: int, gt_image, gt_category, gt_boxes, gt_area, gt_crowd,
                    gt_id, det_image, det_category, det_boxes, det_scores, det_area=None,
                    gt_masks: rle.RunLengthMasks | None = None,
                    det_masks: rle.RunLengthMasks | Sequence[Mapping[str, Any]] | None = None):
  """COCOeval's ``evaluate()`` + ``accumulate()`` on flat arrays.

  Images and categories are dense indices ``0..num_images-1`` / ``0..num_categories-1`` in the order of
  sorted ids; boxes are ``[N, 4]`` xywh float64. Ground truth must be listed in annotation order and
  detections in result order (both only matter for ties). ``det_area`` (default: box ``w * h``) places
  detections in the area ranges. With ``gt_masks`` and ``det_masks`` (one mask per row) the IoU is mask IoU
  (``iouType='segm'``) and the boxes are not used except through the default ``det_area``. ``det_masks`` may
  be RLE dicts: only the detections that meet ground truth of their image and category are then decoded.

  Returns:
    ``precision [T, R, K, A, M]`` and ``recall [T, K, A, M]``, -1 where undefined, as ``COCOeval.eval``.
  """
  num_areas, num_thresholds, num_max = len(AREA_RANGES), len(IOU_THRESHOLDS), len(MAX_DETECTIONS)
  precision = -np.ones((num_thresholds, len(RECALL_THRESHOLDS), num_categories, num_areas, num_max))
  recall = -np.ones((num_thresholds, num_categories, num_areas, num_max))
  num_pairs = num_images * num_categories

  if (gt_masks is None) != (det_masks is None):
    raise ValueError("give both gt_masks and det_masks (mask IoU) or neither (box IoU)")
  if det_area is None:
    det_area = det_boxes[:, 2] * det_boxes[:, 3]
  det_area = np.asarray(det_area, np.float64)
  gt_pair = gt_image * num_categories + gt_category
  gt_order = np.argsort(gt_pair, kind="stable")
  gt_pair, gt_boxes, gt_area = gt_pair[gt_order], gt_boxes[gt_order], gt_area[gt_order]
  gt_crowd, gt_id, gt_category = gt_crowd[gt_order], gt_id[gt_order], gt_category[gt_order]
  gt_pair_count = np.bincount(gt_pair, minlength=num_pairs)
  gt_pair_start = np.concatenate([[0], np.cumsum(gt_pair_count)[:-1]])
  low, high = np.asarray(AREA_RANGES).T
  gt_ignored = gt_crowd[:, None] | (gt_area[:, None] < low) | (gt_area[:, None] > high)

  det_pair = det_image * num_categories + det_category
  # pycocotools sorts each pair's detections by score (stable) and keeps the best 100.
  det_order = np.lexsort((np.arange(len(det_pair)), -det_scores, det_pair))
  sorted_pair = det_pair[det_order]
  rank = np.arange(len(sorted_pair)) - np.searchsorted(sorted_pair, sorted_pair, side="left")
  keep = det_order[rank < MAX_DETECTIONS[-1]]
  det_rank = rank[rank < MAX_DETECTIONS[-1]]
  det_pair, det_image, det_category = det_pair[keep], det_image[keep], det_category[keep]
  det_boxes, det_scores, det_area = det_boxes[keep], det_scores[keep], det_area[keep]
  det_out_of_range = (det_area[:, None] < low) | (det_area[:, None] > high)

  if gt_masks is None:
    pair_iou = lambda d, g: pairwise_coco_iou(det_boxes[d], gt_boxes[g], gt_crowd[g])
  else:
    det_runs, det_slot = _runs_of_needed_detections(det_masks, keep[gt_pair_count[det_pair] > 0])
    pair_iou = lambda d, g: rle.pairwise_mask_iou(det_runs, det_slot[keep[d]], gt_masks, gt_order[g], gt_crowd[g])
  matched_gt = _match(det_pair, det_rank, pair_iou, gt_pair_start, gt_pair_count, gt_crowd, gt_ignored)
  matched = matched_gt >= 0
  if len(gt_id):
    safe_gt = np.maximum(matched_gt, 0)
    ignored_by_gt = matched & gt_ignored[safe_gt, np.arange(num_areas)[None, :, None]]
    # pycocotools stores the matched annotation id and tests it against 0.
    counted_match = matched & (gt_id[safe_gt] != 0)
  else:
    ignored_by_gt = counted_match = np.zeros_like(matched)
  det_ignored = ignored_by_gt | (~counted_match & det_out_of_range[:, :, None])
  true_positive = counted_match & ~det_ignored
  false_positive = ~counted_match & ~det_ignored

  num_positive = np.zeros((num_categories, num_areas), np.int64)
  np.add.at(num_positive, gt_category, (~gt_ignored).astype(np.int64))
  category_present = (np.bincount(gt_category, minlength=num_categories)
                      + np.bincount(det_category, minlength=num_categories)) > 0

  # Concatenation order of pycocotools' accumulate: category, then score, then image, then rank.
  order = np.lexsort((det_rank, det_image, -det_scores, det_category))
  sorted_category = det_category[order]
  sorted_rank = det_rank[order]
  true_positive, false_positive = true_positive[order], false_positive[order]
  bounds = np.searchsorted(sorted_category, np.arange(num_categories + 1), side="left")
  for k in np.flatnonzero(category_present):
    rank_k = sorted_rank[bounds[k]:bounds[k + 1]]
    for m, max_det in enumerate(MAX_DETECTIONS):
      kept = bounds[k] + np.flatnonzero(rank_k < max_det)
      tp_sum = np.cumsum(true_positive[kept], axis=0).astype(float)
      fp_sum = np.cumsum(false_positive[kept], axis=0).astype(float)
      num_dets = len(kept)
      for a in range(num_areas):
        npig = num_positive[k, a]
        if npig == 0:
          continue
        tp, fp = tp_sum[:, a], fp_sum[:, a]
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        recall[:, k, a, m] = rc[-1] if num_dets else 0
        if num_dets == 0:
          precision[:, :, k, a, m] = 0
          continue
        pr = np.maximum.accumulate(pr[::-1], axis=0)[::-1]
        for t in range(num_thresholds):
          index = np.searchsorted(rc[:, t], RECALL_THRESHOLDS, side="left")
          precision[t, :, k, a, m] = np.where(index < num_dets, pr[np.minimum(index, num_dets - 1), t], 0.0)
  return precision, recall


def summarize(precision, recall) -> dict[str, float]:
  """The twelve numbers of ``COCOeval.summarize()`` from ``evaluate_arrays``' output, by name."""

  def mean_defined(values):
    defined = values[values > -1]
    return float(np.mean(defined)) if len(defined) else -1.0

  def average_precision(iou=None, area=0, max_det=2):
    values = precision if iou is None else precision[np.where(iou == IOU_THRESHOLDS)[0]]
    return mean_defined(values[:, :, :, area, max_det])

  def average_recall(area=0, max_det=2):
    return mean_defined(recall[:, :, area, max_det])

  values = (average_precision(), average_precision(iou=.5), average_precision(iou=.75),
            average_precision(area=1), average_precision(area=2), average_precision(area=3),
            average_recall(max_det=0), average_recall(max_det=1), average_recall(),
            average_recall(area=1), average_recall(area=2), average_recall(area=3))
  return dict(zip(STAT_NAMES, values))


def per_class_average_precision(precision) -> np.ndarray:
  """``[K]`` AP@[.5:.95] per category (area all, 100 detections); -1 for a category without ground truth."""
  values = precision[:, :, :, 0, -1]
  defined = values > -1
  sums = np.where(defined, values, 0.0).sum(axis=(0, 1))
  counts = defined.sum(axis=(0, 1))
  return np.where(counts > 0, sums / np.maximum(counts, 1), -1.0)


class CocoArrays(NamedTuple):
  """The arguments of ``evaluate_arrays``, parsed from COCO dicts by ``parse_coco``."""
  num_images: int
  num_categories: int
  gt_image: np.ndarray
  gt_category: np.ndarray
  gt_boxes: np.ndarray
  gt_area: np.ndarray
  gt_crowd: np.ndarray
  gt_id: np.ndarray
  det_image: np.ndarray
  det_category: np.ndarray
  det_boxes: np.ndarray
  det_scores: np.ndarray
  det_area: np.ndarray | None = None
  gt_masks: rle.RunLengthMasks | None = None
  det_masks: rle.RunLengthMasks | Sequence[Mapping[str, Any]] | None = None


def _column(records: Sequence[Mapping[str, Any]], key: str, what: str) -> list:
  """``[r[key] for r in records]`` with an error naming the first record that lacks ``key``."""
  try:
    return [record[key] for record in records]
  except KeyError:
    index = next(i for i, record in enumerate(records) if key not in record)
    raise ValueError(f"{what} {index} has no {key!r} field: {_short(records[index])}") from None


def _short(record: Mapping[str, Any]) -> dict:
  """A record for an error message, without its (possibly huge) segmentation."""
  return {k: ("..." if k == "segmentation" else v) for k, v in record.items()}


def _checked_rles(records: Sequence[Mapping[str, Any]], keep: np.ndarray, record_image: np.ndarray,
                  image_sizes: np.ndarray, what: str) -> list[Mapping[str, Any]]:
  """The kept records' ``segmentation`` as RLE dicts (polygons rasterized), sizes checked against the images."""
  indices = np.flatnonzero(keep)
  segmentations = _column([records[i] for i in indices], "segmentation", what)
  sizes = np.zeros((len(indices), 2), np.int64)
  expected = image_sizes[record_image[indices]].reshape(-1, 2)
  for n, segmentation in enumerate(segmentations):
    try:
      if isinstance(segmentation, list):  # polygons, rasterized as pycocotools' annToRLE does
        if expected[n, 0] < 0:
          raise ValueError("polygon segmentations need the image's 'height' and 'width' in ground_truth images")
        segmentation = segmentations[n] = polygons.polygons_to_rle(segmentation, *expected[n])
      sizes[n] = rle.rle_size(segmentation)
    except ValueError as error:
      raise ValueError(f"{what} {_short(records[indices[n]])}: {error}") from None
  wrong = (expected[:, 0] >= 0) & np.any(expected != sizes, axis=1)
  if np.any(wrong):
    n = int(np.flatnonzero(wrong)[0])
    raise ValueError(f"{what} {_short(records[indices[n]])} has a mask of size {sizes[n].tolist()} but its "
                     f"image is {expected[n].tolist()} (height, width)")
  return segmentations


def _masks(records: Sequence[Mapping[str, Any]], keep: np.ndarray, record_image: np.ndarray,
           image_sizes: np.ndarray, what: str) -> rle.RunLengthMasks:
  """``RunLengthMasks`` of the kept records' ``segmentation`` (checked as in ``_checked_rles``)."""
  return rle.RunLengthMasks.from_rles(_checked_rles(records, keep, record_image, image_sizes, what), what)


def parse_coco(ground_truth: Mapping[str, Any], detections: Sequence[Mapping[str, Any]],
               iou_type: str = "bbox") -> tuple[CocoArrays, np.ndarray]:
  """Checks and flattens a COCO dataset dict and a detection list; returns the arrays and sorted category ids.

  See ``coco_evaluate`` for the expected fields.
  """
  if iou_type not in IOU_TYPES:
    raise ValueError(f"unknown iou_type {iou_type!r}; known: {', '.join(IOU_TYPES)}")
  segm = iou_type == "segm"
  for key in ("images", "annotations", "categories"):
    if key not in ground_truth:
      raise ValueError(f"ground_truth must be a COCO dict with {key!r}; got keys {sorted(ground_truth)}")
  images = ground_truth["images"]
  image_ids = np.asarray([image["id"] for image in images], np.int64)
  image_ids, first = np.unique(image_ids, return_index=True)
  image_sizes = np.asarray([[images[i].get("height", -1), images[i].get("width", -1)] for i in first],
                           np.int64).reshape(-1, 2)
  category_ids = np.unique(np.asarray([c["id"] for c in ground_truth["categories"]], np.int64))
  annotations = ground_truth["annotations"]

  def indices(ids, known):
    ids = np.asarray(ids, np.int64).reshape(-1)
    position = np.searchsorted(known, ids)
    found = (position < len(known)) & (known[np.minimum(position, len(known) - 1)] == ids) if len(known) else (
        np.zeros(len(ids), bool))
    return position, found

  gt_image, gt_image_found = indices(_column(annotations, "image_id", "annotation"),
                                     image_ids)
  if not np.all(gt_image_found):
    bad = annotations[int(np.flatnonzero(~gt_image_found)[0])]
    raise ValueError(f"annotation {bad.get('id')} refers to image_id {bad['image_id']}, not in images")
  gt_category, gt_known = indices(_column(annotations, "category_id", "annotation"),
                                  category_ids)
  if segm:  # Ground-truth boxes play no part in mask evaluation.
    gt_boxes = np.zeros((len(annotations), 4))
  else:
    gt_boxes = np.asarray(_column(annotations, "bbox", "annotation"), np.float64).reshape(-1, 4)
  gt_area = np.asarray(_column(annotations, "area", "annotation"), np.float64)
  gt_crowd = np.asarray([bool(a.get("iscrowd", 0)) for a in annotations], bool)
  gt_id = np.asarray([a.get("id", i + 1) for i, a in enumerate(annotations)], np.int64)

  det_image, det_image_found = indices(_column(detections, "image_id", "detection"),
                                       image_ids)
  if not np.all(det_image_found):
    bad = detections[int(np.flatnonzero(~det_image_found)[0])]
    raise ValueError(f"detection on image_id {bad['image_id']}, which is not in the ground truth's images")
  det_category, det_known = indices(
      _column(detections, "category_id", "detection"), category_ids)
  # pycocotools' loadRes: if the first detection has a box, every detection's area is its box's w * h.
  with_boxes = not segm or (len(detections) > 0 and len(detections[0].get("bbox", [])) > 0)
  if with_boxes:
    det_boxes = np.asarray(_column(detections, "bbox", "detection"), np.float64).reshape(-1, 4)
  else:
    det_boxes = np.zeros((len(detections), 4))
  det_scores = np.asarray(_column(detections, "score", "detection"), np.float64)
  if not np.all(np.isfinite(det_scores)):
    raise ValueError("detection scores must be finite")

  gt_masks = det_masks = det_area = None
  if segm:
    gt_masks = _masks(annotations, gt_known, gt_image, image_sizes, "annotation")
    if with_boxes:  # Decoded later, and only where they meet ground truth.
      det_masks = _checked_rles(detections, det_known, det_image, image_sizes, "detection")
      det_area = det_boxes[det_known, 2] * det_boxes[det_known, 3]
    else:
      det_masks = _masks(detections, det_known, det_image, image_sizes, "detection")
      det_area = det_masks.areas.astype(np.float64)
  arrays = CocoArrays(
      len(image_ids), len(category_ids), gt_image[gt_known], gt_category[gt_known], gt_boxes[gt_known],
      gt_area[gt_known], gt_crowd[gt_known], gt_id[gt_known], det_image[det_known], det_category[det_known],
      det_boxes[det_known], det_scores[det_known], det_area, gt_masks, det_masks)
  return arrays, category_ids


def coco_evaluate(ground_truth: Mapping[str, Any], detections: Sequence[Mapping[str, Any]],
                  iou_type: str = "bbox") -> dict[str, Any]:
  """COCO box or mask AP/AR, equal to ``pycocotools.cocoeval.COCOeval(gt, dt, iou_type)`` stats.

  Args:
    ground_truth: a COCO dataset dict with ``images`` (``id``; ``height``/``width`` are checked against mask
      sizes when present), ``categories`` (``id``) and ``annotations`` (``image_id``, ``category_id``,
      ``bbox`` as ``[x, y, w, h]`` (boxes only), ``area``, ``iscrowd`` (default 0), ``id``, and for masks
      ``segmentation`` as RLE ``{"size": [H, W], "counts": str | bytes | list}`` or polygons
      ``[[x0, y0, x1, y1, ...], ...]``, which need the image's ``height`` and ``width``).
    detections: ``{image_id, category_id, bbox ([x, y, w, h]), score}`` records, and for masks
      ``segmentation`` as RLE or polygons (``bbox`` optional: as in pycocotools, when the first detection has
      one, every detection's area range is decided by ``w * h`` of its box, else by its mask area). Detections of a
      category not in ``categories`` are ignored (as pycocotools does); an unknown ``image_id`` is an error.
    iou_type: ``"bbox"`` (box IoU) or ``"segm"`` (mask IoU).

  Returns:
    The twelve stats by name (``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``, ``AR1``, ``AR10``,
    ``AR100``, ``ARs``, ``ARm``, ``ARl``; -1 where undefined as in pycocotools) and ``per_class_AP``
    ``{category_id: AP@[.5:.95]}`` (-1 for a category without ground truth).
  """
  arrays, category_ids = parse_coco(ground_truth, detections, iou_type)
  precision, recall = evaluate_arrays(*arrays)
  result: dict[str, Any] = summarize(precision, recall)
  result["per_class_AP"] = dict(zip(category_ids.tolist(), per_class_average_precision(precision).tolist()))
  return result
