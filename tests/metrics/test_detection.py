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
