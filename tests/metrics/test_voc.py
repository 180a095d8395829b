"""Tests for jvision/metrics/voc.py against a loop-by-loop re-derivation of the VOC devkit's voc_eval."""

import numpy as np
import pytest

from jvision.metrics import detection
from jvision.metrics import voc


def reference_voc_ap(ground_truth, detections, label, iou_threshold=0.5, use_07=False, legacy=False):
  """py-faster-rcnn's voc_eval, re-derived: one detection at a time in score order."""
  one = 1.0 if legacy else 0.0
  gts = {}
  num_positive = 0
  for image, record in enumerate(ground_truth):
    mask = np.asarray(record["labels"]) == label
    difficult = np.asarray(record.get("difficult", np.zeros(len(mask), bool)), bool)[mask]
    gts[image] = {"boxes": np.asarray(record["boxes"], float).reshape(-1, 4)[mask], "difficult": difficult,
                  "taken": np.zeros(int(mask.sum()), bool)}
    num_positive += int((~difficult).sum())
  dets = [(image, box, score) for image, record in enumerate(detections)
          for box, score, lab in zip(np.asarray(record["boxes"], float).reshape(-1, 4), record["scores"],
                                     record["labels"]) if lab == label]
  dets = sorted(enumerate(dets), key=lambda item: (-item[1][2], item[0]))
  tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
  for d, (_, (image, box, _)) in enumerate(dets):
    entry = gts[image]
    best, best_index = -np.inf, -1
    for j, g in enumerate(entry["boxes"]):
      iw = max(min(box[2], g[2]) - max(box[0], g[0]) + one, 0.0)
      ih = max(min(box[3], g[3]) - max(box[1], g[1]) + one, 0.0)
      union = (box[2] - box[0] + one) * (box[3] - box[1] + one) + (g[2] - g[0] + one) * (g[3] - g[1] + one) - iw * ih
      overlap = iw * ih / union
      if overlap > best:
        best, best_index = overlap, j
    if best > iou_threshold:
      if not entry["difficult"][best_index]:
        if not entry["taken"][best_index]:
          tp[d] = 1
          entry["taken"][best_index] = True
        else:
          fp[d] = 1
    else:
      fp[d] = 1
  tp, fp = np.cumsum(tp), np.cumsum(fp)
  recall = tp / num_positive
  precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
  if use_07:
    return sum((precision[recall >= t].max() if (recall >= t).any() else 0) / 11 for t in np.arange(0, 1.1, 0.1))
  mrec = np.concatenate([[0.0], recall, [1.0]])
  mpre = np.concatenate([[0.0], precision, [0.0]])
  for i in range(len(mpre) - 1, 0, -1):
    mpre[i - 1] = max(mpre[i - 1], mpre[i])
  i = np.where(mrec[1:] != mrec[:-1])[0]
  return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def random_voc_case(seed, num_images=25, num_classes=4):
  rng = np.random.default_rng(seed)
  ground_truth, detections = [], []
  for _ in range(num_images):
    n = int(rng.integers(0, 6))
    xy = np.round(rng.uniform(0, 200, (n, 2)))
    boxes = np.concatenate([xy, xy + np.round(rng.uniform(5, 80, (n, 2)))], 1)
    labels = rng.integers(0, num_classes, n)
    ground_truth.append({"boxes": boxes, "labels": labels, "difficult": rng.uniform(size=n) < 0.2})
    copies = rng.integers(0, n, int(rng.integers(0, 2 * n + 1))) if n else np.zeros(0, int)
    det_boxes = boxes[copies] + rng.normal(0, 6, (len(copies), 4))
    clutter = np.round(rng.uniform(0, 200, (int(rng.integers(0, 4)), 2)))
    det_boxes = np.concatenate([det_boxes, np.concatenate([clutter, clutter + 40], 1)])
    det_labels = np.concatenate([labels[copies], rng.integers(0, num_classes, len(clutter))])
    scores = np.round(rng.uniform(size=len(det_boxes)), 1)  # ties
    detections.append({"boxes": det_boxes, "scores": scores, "labels": det_labels})
  return ground_truth, detections


@pytest.mark.parametrize("seed,legacy", [(0, False), (1, True), (2, False)])
def test_matches_reference(seed, legacy):
  ground_truth, detections = random_voc_case(seed)
  result = detection.voc_evaluate(ground_truth, detections, legacy_coordinates=legacy)
  for label in range(4):
    np.testing.assert_allclose(result["AP"][label], reference_voc_ap(ground_truth, detections, label, legacy=legacy),
                               atol=1e-12)
    np.testing.assert_allclose(result["AP07"][label],
                               reference_voc_ap(ground_truth, detections, label, use_07=True, legacy=legacy),
                               atol=1e-12)
  np.testing.assert_allclose(result["mAP"], np.mean(list(result["AP"].values())))


def test_hand_computed_case():
  # Two real objects and a difficult one. Detections by score: hit A (tp), hit the difficult one (ignored),
  # duplicate of A (fp), hit B (tp). Precision/recall: (1, 1/2), (1/2, 1/2), (2/3, 1).
  ground_truth = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], "labels": [0, 0, 0],
                   "difficult": [False, False, True]}]
  detections = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60], [1, 0, 10, 10], [20, 20, 30, 30]],
                 "scores": [0.9, 0.8, 0.7, 0.6], "labels": [0, 0, 0, 0]}]
  result = voc.voc_evaluate(ground_truth, detections)
  # All-point: 0.5 * 1 + 0.5 * 2/3. 11-point: 6 points at precision 1, 5 at 2/3.
  np.testing.assert_allclose(result["AP"][0], 0.5 + 1 / 3)
  np.testing.assert_allclose(result["AP07"][0], (6 + 5 * 2 / 3) / 11)


def test_class_without_positives_and_errors():
  ground_truth = [{"boxes": [[0, 0, 10, 10]], "labels": [1], "difficult": [True]}]
  detections = [{"boxes": [[0, 0, 10, 10]], "scores": [0.5], "labels": [1]}]
  result = voc.voc_evaluate(ground_truth, detections, classes=[0, 1])
  assert result["AP"] == {0: -1.0, 1: -1.0} and result["mAP"] == -1.0
  with pytest.raises(ValueError, match="2 images"):
    voc.voc_evaluate(ground_truth * 2, detections)
  with pytest.raises(ValueError, match="'scores' has 2 entries for 1 boxes"):
    voc.voc_evaluate(ground_truth, [dict(detections[0], scores=[0.5, 0.4])])
