"""Tests for jvision/metrics/detection.py's DetectionEvaluator: padded batches in, pycocotools/VOC numbers out."""

import contextlib
import io

import jax.numpy as jnp
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from jvision.metrics import coco, detection, voc


def padded_batches(seed, num_batches=4, batch_size=5, max_det=120, max_gt=9, num_classes=5):
  """Random padded batches; every image keeps a random number of valid entries, the rest is garbage."""
  rng = np.random.default_rng(seed)
  batches = []
  for b in range(num_batches):
    gt_xy = np.round(rng.uniform(0, 300, (batch_size, max_gt, 2)))
    gt_boxes = np.concatenate([gt_xy, gt_xy + np.round(rng.uniform(4, 150, (batch_size, max_gt, 2)))], -1)
    gt_classes = rng.integers(0, num_classes - 1, (batch_size, max_gt))  # the last class never appears
    gt_valid = np.arange(max_gt) < rng.integers(0, max_gt + 1, (batch_size, 1))
    source = rng.integers(0, max_gt, (batch_size, max_det))
    pred_boxes = np.take_along_axis(gt_boxes, source[..., None], 1) + rng.normal(0, 5, (batch_size, max_det, 4))
    pred_classes = np.where(rng.uniform(size=(batch_size, max_det)) < 0.8, np.take_along_axis(gt_classes, source, 1),
                            rng.integers(0, num_classes, (batch_size, max_det)))
    pred_valid = np.arange(max_det) < rng.integers(0, max_det + 1, (batch_size, 1))
    batches.append(dict(
        image_ids=np.arange(batch_size) * 7 + 1000 - 100 * b,  # not sorted in arrival order
        pred_boxes=jnp.asarray(pred_boxes, jnp.float32), pred_scores=rng.uniform(size=(batch_size, max_det)),
        pred_classes=np.where(pred_valid, pred_classes, -1), pred_valid=pred_valid,
        gt_boxes=gt_boxes, gt_classes=gt_classes, gt_valid=gt_valid,
        gt_difficult=rng.uniform(size=(batch_size, max_gt)) < 0.1,
        gt_crowd=rng.uniform(size=(batch_size, max_gt)) < 0.05))
  return batches


def to_dicts(batches, num_classes):
  """The same data as COCO dicts (float64 xywh from the very values the evaluator sees)."""
  images, annotations, results, voc_gt, voc_dt = [], [], [], [], []
  for batch in batches:
    pred_boxes = np.asarray(batch["pred_boxes"], np.float64)
    for i, image_id in enumerate(batch["image_ids"]):
      images.append({"id": int(image_id)})
      g = np.flatnonzero(batch["gt_valid"][i])
      for j in g:
        x1, y1, x2, y2 = batch["gt_boxes"][i, j]
        annotations.append({"id": len(annotations) + 1, "image_id": int(image_id),
                            "category_id": int(batch["gt_classes"][i, j]), "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "area": (x2 - x1) * (y2 - y1), "iscrowd": int(batch["gt_crowd"][i, j])})
      d = np.flatnonzero(batch["pred_valid"][i])
      for j in d:
        x1, y1, x2, y2 = pred_boxes[i, j]
        results.append({"image_id": int(image_id), "category_id": int(batch["pred_classes"][i, j]),
                        "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(batch["pred_scores"][i, j])})
      voc_gt.append({"boxes": batch["gt_boxes"][i, g], "labels": batch["gt_classes"][i, g],
                     "difficult": batch["gt_difficult"][i, g] | batch["gt_crowd"][i, g]})
      voc_dt.append({"boxes": pred_boxes[i, d], "labels": batch["pred_classes"][i, d],
                     "scores": batch["pred_scores"][i, d]})
  ground_truth = {"images": images, "annotations": annotations,
                  "categories": [{"id": c} for c in range(num_classes)]}
  return ground_truth, results, voc_gt, voc_dt


def test_streaming_equals_pycocotools_and_voc():
  batches = padded_batches(0)
  evaluator = detection.DetectionEvaluator(num_classes=5)
  for batch in batches:
    evaluator.add_batch(**batch)
  result = evaluator.result()
  ground_truth, results, voc_gt, voc_dt = to_dicts(batches, 5)
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = ground_truth
    gt.createIndex()
    reference = COCOeval(gt, gt.loadRes([dict(r) for r in results]), "bbox")
    reference.evaluate()
    reference.accumulate()
    reference.summarize()
  np.testing.assert_allclose([result[name] for name in coco.STAT_NAMES], reference.stats, atol=1e-6, rtol=0)
  assert result["COCO_per_class_AP"][4] == -1.0
  expected_voc = voc.voc_evaluate(voc_gt, voc_dt, classes=range(5))
  np.testing.assert_allclose(result["VOC_mAP"], expected_voc["mAP"], atol=1e-12)
  np.testing.assert_allclose(result["VOC07_mAP"], expected_voc["mAP07"], atol=1e-12)
  assert result["VOC_per_class_AP"] == pytest.approx(expected_voc["AP"])
  assert 0 < result["VOC_mAP"] < 1 and 0 < result["AP"] < 1


def test_bad_input_is_named():
  batch = padded_batches(1, num_batches=1)[0]
  evaluator = detection.DetectionEvaluator(num_classes=5)
  with pytest.raises(ValueError, match="pred_scores must have shape"):
    evaluator.add_batch(**dict(batch, pred_scores=batch["pred_scores"][:, :3]))
  with pytest.raises(ValueError, match="NaN"):
    evaluator.add_batch(**dict(batch, pred_scores=np.full_like(batch["pred_scores"], np.nan)))
  # Padding may hold anything (a jitted step often pads scores with -inf).
  padded_scores = np.where(batch["pred_valid"], batch["pred_scores"], -np.inf)
  detection.DetectionEvaluator(num_classes=5).add_batch(**dict(batch, pred_scores=padded_scores))
  with pytest.raises(ValueError, match="num_classes"):
    evaluator.add_batch(**dict(batch, gt_classes=batch["gt_classes"] + 10))
  with pytest.raises(ValueError, match="before any add_batch"):
    evaluator.result()
  evaluator.add_batch(**batch)
  evaluator.add_batch(**batch)
  with pytest.raises(ValueError, match="more than once"):
    evaluator.result()


def masked_batches(seed, num_batches=3, batch_size=4, max_det=12, max_gt=5, num_classes=3, padded=(128, 144)):
  """Padded batches with instance masks: per-image sizes below the padded size, probabilities as predictions,
  and garbage both in invalid slots and in the padding beyond each image."""
  rng = np.random.default_rng(seed)
  ys, xs = np.mgrid[:padded[0], :padded[1]]
  batches = []
  for b in range(num_batches):
    sizes = np.stack([rng.integers(64, padded[0] + 1, batch_size), rng.integers(64, padded[1] + 1, batch_size)], 1)
    centres = rng.uniform(0, 1, (batch_size, max_gt, 2)) * sizes[:, None, :]
    radii = rng.choice([3.0, 15.0, 90.0], (batch_size, max_gt, 1)) * rng.uniform(0.6, 1.4, (batch_size, max_gt, 2))
    gt_masks = (((ys - centres[..., 0, None, None]) / radii[..., 0, None, None]) ** 2
                + ((xs - centres[..., 1, None, None]) / radii[..., 1, None, None]) ** 2) <= 1
    inside = (ys < sizes[:, 0, None, None]) & (xs < sizes[:, 1, None, None])
    gt_masks &= inside[:, None]
    gt_classes = rng.integers(0, num_classes, (batch_size, max_gt))
    gt_valid = (np.arange(max_gt) < rng.integers(0, max_gt + 1, (batch_size, 1))) & gt_masks.any(axis=(2, 3))
    source = rng.integers(0, max_gt, (batch_size, max_det))
    shift = rng.integers(-2, 3, (batch_size, max_det, 2))
    pred_masks = np.stack([np.stack([np.roll(gt_masks[i, source[i, j]], tuple(shift[i, j]), (0, 1))
                                     for j in range(max_det)]) for i in range(batch_size)])
    probabilities = np.where(pred_masks, rng.uniform(0.45, 1.0, pred_masks.shape),
                             rng.uniform(0, 0.5, pred_masks.shape))
    probabilities[~inside[:, None].repeat(max_det, 1)] = 0.9  # padding garbage: must be cropped away
    pred_boxes = np.take_along_axis(
        np.stack([centres[..., 1] - radii[..., 1], centres[..., 0] - radii[..., 0],
                  centres[..., 1] + radii[..., 1], centres[..., 0] + radii[..., 0]], -1), source[..., None], 1)
    pred_boxes = pred_boxes + rng.normal(0, 3, pred_boxes.shape)
    pred_classes = np.where(rng.uniform(size=(batch_size, max_det)) < 0.8, np.take_along_axis(gt_classes, source, 1),
                            rng.integers(0, num_classes, (batch_size, max_det)))
    pred_valid = np.arange(max_det) < rng.integers(max_det // 2, max_det + 1, (batch_size, 1))
    gt_boxes = np.zeros((batch_size, max_gt, 4))
    for i, j in zip(*np.nonzero(gt_valid)):
      rows, cols = np.nonzero(gt_masks[i, j])
      gt_boxes[i, j] = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    batches.append(dict(
        image_ids=np.arange(batch_size) + 100 * b, pred_boxes=pred_boxes,
        pred_scores=np.round(rng.uniform(size=(batch_size, max_det)), 1), pred_classes=pred_classes,
        pred_valid=pred_valid, gt_boxes=gt_boxes, gt_classes=gt_classes, gt_valid=gt_valid,
        gt_crowd=rng.uniform(size=(batch_size, max_gt)) < 0.15, pred_masks=probabilities,
        gt_masks=gt_masks.astype(np.uint8), image_sizes=sizes))
  return batches


def test_mask_ap_equals_pycocotools_segm():
  import pycocotools.mask as mask_utils
  batches = masked_batches(0)
  evaluator = detection.DetectionEvaluator(num_classes=3)
  for batch in batches:
    evaluator.add_batch(**batch)
  result = evaluator.result()
  images, annotations, results = [], [], []
  encode = lambda m: mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
  for batch in batches:
    for i, image_id in enumerate(batch["image_ids"]):
      height, width = batch["image_sizes"][i]
      images.append({"id": int(image_id), "height": int(height), "width": int(width)})
      for j in np.flatnonzero(batch["gt_valid"][i]):
        mask = batch["gt_masks"][i, j, :height, :width]
        annotations.append({"id": len(annotations) + 1, "image_id": int(image_id),
                            "category_id": int(batch["gt_classes"][i, j]), "segmentation": encode(mask),
                            "area": float(mask.sum()), "iscrowd": int(batch["gt_crowd"][i, j])})
      for j in np.flatnonzero(batch["pred_valid"][i]):
        x1, y1, x2, y2 = batch["pred_boxes"][i, j]
        results.append({"image_id": int(image_id), "category_id": int(batch["pred_classes"][i, j]),
                        "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(batch["pred_scores"][i, j]),
                        "segmentation": encode(batch["pred_masks"][i, j, :height, :width] > 0.5)})
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": c} for c in range(3)]}
    gt.createIndex()
    reference = COCOeval(gt, gt.loadRes(results), "segm")
    reference.evaluate()
    reference.accumulate()
    reference.summarize()
  np.testing.assert_allclose([result[f"mask_{name}"] for name in coco.STAT_NAMES], reference.stats, atol=1e-12)
  assert result["mask_AP"] != result["AP"]  # not the box numbers under another name
  assert np.all(reference.stats > 0), reference.stats  # every area range has matches
  # The same masks given as RLE dicts give the same numbers.
  from_rle = detection.DetectionEvaluator(num_classes=3)
  for batch in batches:
    sizes = batch["image_sizes"]
    as_rle = lambda masks: [[encode(m[:h, :w] > 0.5) for m in masks[i]] for i, (h, w) in enumerate(sizes)]
    from_rle.add_batch(**dict(batch, pred_masks=as_rle(batch["pred_masks"]), gt_masks=as_rle(batch["gt_masks"]),
                              image_sizes=None))
  rle_result = from_rle.result()
  assert [rle_result[f"mask_{name}"] for name in coco.STAT_NAMES] == [result[f"mask_{name}"]
                                                                       for name in coco.STAT_NAMES]


def test_masks_must_come_in_pairs_and_every_batch():
  batch = masked_batches(1, num_batches=1)[0]
  evaluator = detection.DetectionEvaluator(num_classes=3)
  with pytest.raises(ValueError, match="give pred_masks and gt_masks together"):
    evaluator.add_batch(**dict(batch, gt_masks=None))
  with pytest.raises(ValueError, match="pred_masks must be \\[B, N, H, W\\]"):
    evaluator.add_batch(**dict(batch, pred_masks=batch["pred_masks"][:, :3]))
  evaluator.add_batch(**batch)
  with pytest.raises(ValueError, match="every add_batch must give instance masks"):
    evaluator.add_batch(**dict(batch, image_ids=batch["image_ids"] + 1000, pred_masks=None, gt_masks=None))
