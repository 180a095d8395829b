"""Tests for jvision/metrics/coco.py against pycocotools.cocoeval.COCOeval (test-only reference)."""

import contextlib
import io
import time

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from jvision.metrics import coco
from jvision.metrics import detection


def random_coco_case(seed, num_images=30, category_ids=(1, 3, 4, 9), max_gt=8, crowd_rate=0.1,
                     many_detections_image=True):
  """A randomized COCO ground truth and detections with the awkward cases in it.

  Empty images, images without detections, crowd boxes, a category without ground truth (the last id),
  detections of a category that is not in ``categories``, tied scores, and one image with more than 100
  detections of one category.
  """
  rng = np.random.default_rng(seed)
  # Integer boxes on odd seeds: exact IoU ties between ground truths exercise the tie-breaking.
  snap = np.round if seed % 2 else (lambda v: v)
  images = [{"id": int(i)} for i in rng.choice(10_000, num_images, replace=False)]
  gt_categories = list(category_ids[:-1])
  annotations, detections = [], []
  for n, image in enumerate(images):
    num_gt = 0 if n % 7 == 0 else int(rng.integers(0, max_gt + 1))
    for _ in range(num_gt):
      size = rng.choice([12.0, 50.0, 150.0]) * rng.uniform(0.5, 1.5, 2)
      x, y = rng.uniform(0, 400, 2)
      box = [float(v) for v in snap([x, y, size[0], size[1]])]
      annotations.append({"id": len(annotations) + 1, "image_id": image["id"],
                          "category_id": int(rng.choice(gt_categories)), "bbox": box,
                          "area": float(size[0] * size[1] * rng.uniform(0.6, 1.0)),
                          "iscrowd": int(rng.uniform() < crowd_rate)})
      if n % 5 == 4:
        continue  # an image with ground truth but no detections
      for _ in range(int(rng.integers(0, 4))):  # noisy copies, some good, some poor
        jitter = rng.normal(0, rng.choice([0.03, 0.15]), 4) * np.array([size[0], size[1], size[0], size[1]])
        det_box = [box[0] + jitter[0], box[1] + jitter[1], max(box[2] + jitter[2], 1.0),
                   max(box[3] + jitter[3], 1.0)]
        category = annotations[-1]["category_id"] if rng.uniform() < 0.85 else int(rng.choice(category_ids))
        detections.append({"image_id": image["id"], "category_id": category,
                           "bbox": [float(v) for v in snap(det_box)], "score": float(np.round(rng.uniform(), 2))})
    if n % 5 != 4:
      for _ in range(int(rng.integers(0, 6))):  # false positives, including unknown category 99
        x, y = rng.uniform(0, 400, 2)
        w, h = rng.uniform(5, 200, 2)
        detections.append({"image_id": image["id"], "category_id": int(rng.choice(list(category_ids) + [99])),
                           "bbox": [float(x), float(y), float(w), float(h)],
                           "score": float(np.round(rng.uniform(), 2))})
  if many_detections_image:
    image_id = images[1]["id"]
    for _ in range(130):
      x, y = rng.uniform(0, 300, 2)
      detections.append({"image_id": image_id, "category_id": gt_categories[0],
                         "bbox": [float(x), float(y), 60.0, 60.0], "score": float(np.round(rng.uniform(), 2))})
  ground_truth = {"images": images, "annotations": annotations,
                  "categories": [{"id": c, "name": str(c)} for c in category_ids]}
  return ground_truth, detections


def pycocotools_eval(ground_truth, detections):
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = ground_truth
    gt.createIndex()
    dt = gt.loadRes([dict(d) for d in detections])
    evaluator = COCOeval(gt, dt, "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  return evaluator


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_pycocotools_on_random_cases(seed):
  ground_truth, detections = random_coco_case(seed, crowd_rate=0.1 if seed != 3 else 0.4)
  reference = pycocotools_eval(ground_truth, detections)
  ours = detection.coco_evaluate(ground_truth, detections)
  np.testing.assert_allclose([ours[name] for name in coco.STAT_NAMES], reference.stats, atol=1e-6, rtol=0)
  for category_id, ap in ours["per_class_AP"].items():
    k = reference.params.catIds.index(category_id)
    table = reference.eval["precision"][:, :, k, 0, -1]
    expected = np.mean(table[table > -1]) if np.any(table > -1) else -1.0
    np.testing.assert_allclose(ap, expected, atol=1e-6)
  assert ours["per_class_AP"][9] == -1.0  # absent from the ground truth


def test_full_tables_match():
  ground_truth, detections = random_coco_case(7)
  reference = pycocotools_eval(ground_truth, detections)
  arrays, _ = coco.parse_coco(ground_truth, detections)
  precision, recall = coco.evaluate_arrays(*arrays)
  np.testing.assert_allclose(precision, reference.eval["precision"], atol=1e-12, rtol=0)
  np.testing.assert_allclose(recall, reference.eval["recall"], atol=1e-12, rtol=0)


def test_hand_computed_case():
  # One image, two ground truths; detections: a perfect hit (0.9), a duplicate (0.8), a miss (0.7).
  ground_truth = {"images": [{"id": 1}], "categories": [{"id": 1}],
                  "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100],
                                   "area": 10_000, "iscrowd": 0},
                                  {"id": 2, "image_id": 1, "category_id": 1, "bbox": [200, 200, 100, 100],
                                   "area": 10_000, "iscrowd": 0}]}
  detections = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.9},
                {"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.8},
                {"image_id": 1, "category_id": 1, "bbox": [400, 400, 10, 10], "score": 0.7}]
  result = detection.coco_evaluate(ground_truth, detections)
  # Precision 1 up to recall 0.5 (51 of 101 recall points), 0 after: AP = 51/101 at every threshold.
  np.testing.assert_allclose(result["AP"], 51 / 101)
  np.testing.assert_allclose(result["AR100"], 0.5)
  np.testing.assert_allclose(result["APs"], -1.0)  # no small ground truth


def test_errors_name_the_problem():
  ground_truth, detections = random_coco_case(0, num_images=3)
  with pytest.raises(ValueError, match="not in the ground truth's images"):
    detection.coco_evaluate(ground_truth, [dict(detections[0], image_id=-5)])
  with pytest.raises(ValueError, match="has no 'score'"):
    detection.coco_evaluate(ground_truth, [{k: v for k, v in detections[0].items() if k != "score"}])


def test_iou_tie_goes_to_the_later_ground_truth():
  # The first detection overlaps both ground truths with IoU exactly 0.5; pycocotools picks the later one,
  # which leaves the first ground truth for the second detection: AP50 = 1 (with the earlier one it is not).
  annotations = [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": box, "area": 100.0, "iscrowd": 0}
                 for i, box in enumerate([[0, 0, 10, 10], [10, 0, 10, 10]])]
  ground_truth = {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": annotations}
  detections = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 10], "score": 0.9},
                {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.8}]
  result = detection.coco_evaluate(ground_truth, detections)
  np.testing.assert_allclose(result["AP50"], 1.0)
  np.testing.assert_allclose(result["AP50"], pycocotools_eval(ground_truth, detections).stats[1])


def test_at_least_three_times_faster_than_pycocotools():
  # A reduced size (the full 5,000 images x 100 detections is in experiments/benchmarks/detection_ops.py).
  ground_truth, detections = random_coco_case(11, num_images=300, max_gt=15)
  start = time.perf_counter()
  ours = detection.coco_evaluate(ground_truth, detections)
  ours_seconds = time.perf_counter() - start
  start = time.perf_counter()
  reference = pycocotools_eval(ground_truth, detections)
  reference_seconds = time.perf_counter() - start
  np.testing.assert_allclose([ours[name] for name in coco.STAT_NAMES], reference.stats, atol=1e-6, rtol=0)
  assert reference_seconds > 3 * ours_seconds, (ours_seconds, reference_seconds)


def test_annotation_id_zero_quirk_matches_pycocotools():
  # pycocotools records matches by annotation id and treats id 0 as "unmatched"; so do we.
  ground_truth, detections = random_coco_case(5, num_images=10)
  ground_truth["annotations"][0]["id"] = 0
  reference = pycocotools_eval(ground_truth, detections)
  ours = detection.coco_evaluate(ground_truth, detections)
  np.testing.assert_allclose([ours[name] for name in coco.STAT_NAMES], reference.stats, atol=1e-6, rtol=0)


def test_no_detections_and_no_ground_truth():
  ground_truth = {"images": [{"id": 1}], "categories": [{"id": 1}],
                  "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100}]}
  empty = detection.coco_evaluate(ground_truth, [])  # pycocotools itself fails on an empty result list
  assert empty["AP"] == 0.0 and empty["AR100"] == 0.0 and empty["APm"] == -1.0
  detections = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}]
  no_truth = detection.coco_evaluate(dict(ground_truth, annotations=[]), detections)
  assert no_truth["AP"] == -1.0 and no_truth["per_class_AP"] == {1: -1.0}
