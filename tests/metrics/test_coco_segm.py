"""Tests for coco_evaluate(iou_type='segm') (jvision/metrics/coco.py) against pycocotools' COCOeval('segm')."""

import contextlib
import io

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from jvision.metrics import coco
from jvision.metrics import detection


def blob(rng, height, width, scale):
  """A random ellipse or rectangle (sometimes with a hole, sometimes in two parts) of about ``scale`` pixels."""
  ys, xs = np.mgrid[:height, :width]
  mask = np.zeros((height, width), bool)
  for _ in range(1 if rng.uniform() < 0.8 else 2):
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    ry, rx = scale * rng.uniform(0.3, 0.8, 2)
    if rng.uniform() < 0.5:
      mask |= ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1
    else:
      mask |= (np.abs(ys - cy) <= ry) & (np.abs(xs - cx) <= rx)
  if rng.uniform() < 0.2:
    mask &= ((ys - cy) / (ry / 3)) ** 2 + ((xs - cx) / (rx / 3)) ** 2 > 1
  return mask


def star(rng, height, width, scale):
  """A polygon [x0, y0, ...] with 5-12 vertices at random radii around a random centre (may leave the image)."""
  count = int(rng.integers(5, 13))
  angles = np.sort(rng.uniform(0, 2 * np.pi, count))
  radii = scale * rng.uniform(0.3, 0.8, count)
  centre = rng.uniform(0, [width, height])
  points = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)
  return [float(v) for v in np.round(points.reshape(-1), 2)]


def perturb(rng, mask):
  """A detection made from a ground-truth mask: shifted, and grown or shrunk by a pixel or two."""
  dy, dx = rng.integers(-3, 4, 2)
  moved = np.roll(mask, (dy, dx), axis=(0, 1))
  for _ in range(int(rng.integers(0, 3))):
    grown = moved | np.roll(moved, 1, 0) | np.roll(moved, -1, 0) | np.roll(moved, 1, 1) | np.roll(moved, -1, 1)
    shrunk = moved & np.roll(moved, 1, 0) & np.roll(moved, -1, 0) & np.roll(moved, 1, 1) & np.roll(moved, -1, 1)
    moved = grown if rng.uniform() < 0.5 else shrunk
  return moved


def encode(mask, form="str"):
  rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
  if form == "str":
    rle["counts"] = rle["counts"].decode("ascii")
  elif form == "list":  # uncompressed counts, as COCO annotation files store crowd regions
    flat = mask.ravel(order="F").astype(np.int8)
    boundaries = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(boundaries).tolist()
    rle["counts"] = ([0] + counts) if flat.size and flat[0] else counts
  return rle


def tight_box(mask):
  ys, xs = np.nonzero(mask)
  if len(ys) == 0:
    return [0.0, 0.0, 0.0, 0.0]
  return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def random_segm_case(seed, num_images=24, category_ids=(1, 3, 4, 9), max_gt=7, crowd_rate=0.15,
                     with_boxes=False, polygons=True):
  """Random masks with crowds, several categories, empty images, tied scores, unknown categories, all three
  RLE forms and polygons in the ground truth, and one image with more than 100 detections of a category."""
  rng = np.random.default_rng(seed)
  images = [{"id": int(i), "height": int(h), "width": int(w)}
            for i, h, w in zip(rng.choice(10_000, num_images, replace=False), rng.integers(40, 200, num_images),
                               rng.integers(40, 200, num_images))]
  gt_categories = list(category_ids[:-1])
  annotations, detections = [], []

  def add_detection(image, category, mask, score):
    detection_record = {"image_id": image["id"], "category_id": category, "segmentation": encode(mask),
                        "score": score}
    if with_boxes:  # a loose box: its area (which pycocotools uses for the area ranges) differs from the mask's
      x, y, w, h = tight_box(mask)
      detection_record["bbox"] = [x, y, w * rng.uniform(0.9, 1.3), h * rng.uniform(0.9, 1.3)]
    detections.append(detection_record)

  for n, image in enumerate(images):
    height, width = image["height"], image["width"]
    num_gt = 0 if n % 7 == 0 else int(rng.integers(0, max_gt + 1))
    for _ in range(num_gt):
      if polygons and rng.uniform() < 0.3:  # one or two star-ish polygons around a centre
        segmentation = [star(rng, height, width, rng.choice([6.0, 25.0, 110.0])) for _ in range(rng.integers(1, 3))]
        mask = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))) > 0
      else:
        mask = blob(rng, height, width, rng.choice([6.0, 25.0, 110.0]))
        segmentation = encode(mask, str(rng.choice(["str", "bytes", "list"])))
      area = float(mask.sum()) * (1.0 if rng.uniform() < 0.7 else rng.uniform(0.6, 1.1))
      annotations.append({"id": len(annotations) + 1, "image_id": image["id"],
                          "category_id": int(rng.choice(gt_categories)), "segmentation": segmentation,
                          "area": area, "iscrowd": int(rng.uniform() < crowd_rate)})
      if n % 5 == 4:
        continue  # ground truth without detections
      for _ in range(int(rng.integers(0, 4))):
        category = annotations[-1]["category_id"] if rng.uniform() < 0.85 else int(rng.choice(category_ids))
        add_detection(image, category, perturb(rng, mask), float(np.round(rng.uniform(), 2)))
    if n % 5 != 4:
      for _ in range(int(rng.integers(0, 5))):  # false positives, including unknown category 99
        mask = blob(rng, height, width, rng.choice([6.0, 25.0, 110.0]))
        add_detection(image, int(rng.choice(list(category_ids) + [99])), mask, float(np.round(rng.uniform(), 2)))
  image = images[1]
  for _ in range(120):
    add_detection(image, gt_categories[0], blob(rng, image["height"], image["width"], 20.0),
                  float(np.round(rng.uniform(), 2)))
  ground_truth = {"images": images, "annotations": annotations,
                  "categories": [{"id": c, "name": str(c)} for c in category_ids]}
  return ground_truth, detections


def pycocotools_segm(ground_truth, detections):
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = {k: [dict(r) for r in v] for k, v in ground_truth.items()}
    gt.createIndex()
    dt = gt.loadRes([dict(d, segmentation=dict(d["segmentation"])) for d in detections])
    # COCOeval replaces segmentations by RLE in these copies, never in the caller's ground_truth.
    evaluator = COCOeval(gt, dt, "segm")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  return evaluator


@pytest.mark.parametrize("seed, with_boxes", [(0, False), (1, False), (2, True), (3, True)])
def test_matches_pycocotools_segm(seed, with_boxes):
  ground_truth, detections = random_segm_case(seed, crowd_rate=0.15 if seed != 3 else 0.4, with_boxes=with_boxes)
  reference = pycocotools_segm(ground_truth, detections)
  ours = detection.coco_evaluate(ground_truth, detections, iou_type="segm")
  np.testing.assert_allclose([ours[name] for name in coco.STAT_NAMES], reference.stats, atol=1e-12, rtol=0)
  assert np.all(reference.stats[:6] > -1), reference.stats  # every area range was exercised
  for category_id, ap in ours["per_class_AP"].items():
    table = reference.eval["precision"][:, :, reference.params.catIds.index(category_id), 0, -1]
    np.testing.assert_allclose(ap, np.mean(table[table > -1]) if np.any(table > -1) else -1.0, atol=1e-12)


def test_full_tables_match_segm():
  ground_truth, detections = random_segm_case(5)
  reference = pycocotools_segm(ground_truth, detections)
  arrays, _ = coco.parse_coco(ground_truth, detections, "segm")
  precision, recall = coco.evaluate_arrays(*arrays)
  np.testing.assert_array_equal(precision, reference.eval["precision"])
  np.testing.assert_array_equal(recall, reference.eval["recall"])


def test_segm_differs_from_bbox_for_an_l_shape():
  # A ground truth that is a 20x20 square less a 10x13 notch, and a detection covering the whole square: box
  # IoU 1, mask IoU 270 / 400 = 0.675, matched at the thresholds 0.50, 0.55, 0.60, 0.65 (4 of 10).
  square = np.zeros((40, 40), bool)
  square[10:30, 10:30] = True
  notched = square.copy()
  notched[10:20, 17:30] = False
  ground_truth = {"images": [{"id": 1, "height": 40, "width": 40}], "categories": [{"id": 1}],
                  "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": encode(notched),
                                   "bbox": [10, 10, 20, 20], "area": 270.0, "iscrowd": 0}]}
  detections = [{"image_id": 1, "category_id": 1, "segmentation": encode(square), "bbox": [10, 10, 20, 20],
                 "score": 0.9}]
  segm = detection.coco_evaluate(ground_truth, detections, iou_type="segm")
  box = detection.coco_evaluate(ground_truth, detections, iou_type="bbox")
  np.testing.assert_allclose(box["AP"], 1.0)
  np.testing.assert_allclose([segm["AP"], segm["AP50"], segm["AP75"]], [0.4, 1.0, 0.0])
  np.testing.assert_allclose(segm["AP"], pycocotools_segm(ground_truth, detections).stats[0])


def test_crowd_region_absorbs_detections_inside_it():
  # A crowd ground truth: a detection inside it has intersection / detection area = 1 and is ignored, not a
  # false positive, so the only other (normal) ground truth is found at full precision.
  crowd, person, inside = (np.zeros((50, 50), bool) for _ in range(3))
  crowd[:, :25] = True
  person[30:45, 30:45] = True
  inside[5:10, 5:10] = True
  ground_truth = {"images": [{"id": 7, "height": 50, "width": 50}], "categories": [{"id": 1}],
                  "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": encode(crowd, "list"),
                                   "area": 1250.0, "iscrowd": 1},
                                  {"id": 2, "image_id": 7, "category_id": 1, "segmentation": encode(person),
                                   "area": 225.0, "iscrowd": 0}]}
  detections = [{"image_id": 7, "category_id": 1, "segmentation": encode(inside), "score": 0.95},
                {"image_id": 7, "category_id": 1, "segmentation": encode(person), "score": 0.5}]
  result = detection.coco_evaluate(ground_truth, detections, iou_type="segm")
  np.testing.assert_allclose([result["AP"], result["AR100"]], [1.0, 1.0])


def test_segm_errors_name_the_problem():
  ground_truth, detections = random_segm_case(0, num_images=4, polygons=False)
  polygon = dict(ground_truth, annotations=[dict(ground_truth["annotations"][0], segmentation=[[0, 0, 5, 0, 5, 5]])])
  sizeless = dict(polygon, images=[{"id": image["id"]} for image in ground_truth["images"]])
  with pytest.raises(ValueError, match="polygon segmentations need the image's 'height' and 'width'"):
    coco.coco_evaluate(sizeless, detections, iou_type="segm")
  with pytest.raises(ValueError, match="at least 3 vertices"):
    coco.coco_evaluate(dict(polygon, annotations=[dict(polygon["annotations"][0], segmentation=[[0, 0, 5, 5]])]),
                       detections, iou_type="segm")
  no_mask = [{k: v for k, v in detections[0].items() if k != "segmentation"}]
  with pytest.raises(ValueError, match="has no 'segmentation'"):
    coco.coco_evaluate(ground_truth, no_mask, iou_type="segm")
  image = ground_truth["images"][0]
  wrong_size = [dict(detections[0], image_id=image["id"],
                     segmentation=encode(np.zeros((image["height"] + 1, image["width"]), bool)))]
  with pytest.raises(ValueError, match="has a mask of size"):
    coco.coco_evaluate(ground_truth, wrong_size, iou_type="segm")
  bad_counts = [dict(detections[0], segmentation={"size": [4, 4], "counts": [3, 4]})]
  with pytest.raises(ValueError, match="sum to H \\* W = 16"):
    coco.coco_evaluate(dict(ground_truth, images=[{"id": i["id"]} for i in ground_truth["images"]]), bad_counts,
                       "segm")
  with pytest.raises(ValueError, match="unknown iou_type 'mask'"):
    coco.coco_evaluate(ground_truth, detections, iou_type="mask")


def test_bbox_evaluation_unchanged_by_masks():
  # The same records evaluated with iou_type='bbox' use only the boxes, as pycocotools' COCOeval('bbox').
  ground_truth, detections = random_segm_case(6, with_boxes=True)
  for annotation in ground_truth["annotations"]:
    annotation["bbox"] = tight_box(mask_utils.decode(COCO.annToRLE(_index(ground_truth), annotation)) > 0)
  with contextlib.redirect_stdout(io.StringIO()):
    gt = _index(ground_truth)
    evaluator = COCOeval(gt, gt.loadRes([dict(d) for d in detections]), "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  ours = coco.coco_evaluate(ground_truth, detections, iou_type="bbox")
  np.testing.assert_allclose([ours[name] for name in coco.STAT_NAMES], evaluator.stats, atol=1e-12, rtol=0)


def _index(ground_truth):
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = ground_truth
    gt.createIndex()
  return gt
