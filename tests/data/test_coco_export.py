"""Tests for jvision/data/coco_export.py against pycocotools: RLE, dataset dict, and a perfect evaluation."""

import contextlib
import io

import numpy as np
import pytest
from pycocotools import coco as pycoco
from pycocotools import cocoeval
from pycocotools import mask as mask_utils

from jvision.data import adapters
from jvision.data import coco_export


@pytest.mark.parametrize("seed", range(4))
def test_rle_matches_pycocotools(seed):
  rng = np.random.default_rng(seed)
  mask = (rng.random((13, 9)) < 0.4).astype(np.uint8)
  if seed == 0:
    mask[0, 0] = 1  # Starts with a run of ones.
  expected = mask_utils.encode(np.asfortranarray(mask))
  rle = coco_export.mask_to_rle(mask)
  assert rle["counts"] == expected["counts"].decode() and rle["size"] == [13, 9]
  uncompressed = coco_export.mask_to_rle(mask, compressed=False)
  decoded = mask_utils.decode(mask_utils.frPyObjects(uncompressed, 13, 9))
  np.testing.assert_array_equal(decoded, mask)


def _load(dataset):
  coco = pycoco.COCO()
  coco.dataset = dataset
  with contextlib.redirect_stdout(io.StringIO()):
    coco.createIndex()
  return coco


def _evaluate(ground_truth, results, kind):
  with contextlib.redirect_stdout(io.StringIO()):
    detections = ground_truth.loadRes(results)
    evaluator = cocoeval.COCOeval(ground_truth, detections, kind)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  return evaluator.stats[0]


def test_shapes_export_loads_in_pycocotools_and_ground_truth_scores_one(tiny_shapes_builder):
  source = tiny_shapes_builder.as_data_source("test")
  dataset = coco_export.shapes_to_coco(source)
  ground_truth = _load(dataset)
  assert len(dataset["images"]) == len(source)
  examples = [adapters.adapt_shapes(source[i], i, with_masks=True) for i in range(len(source))]
  annotation_index = 0
  for example in examples:
    for mask, box in zip(example["instance_masks"], example["boxes"]):
      annotation = dataset["annotations"][annotation_index]
      np.testing.assert_array_equal(ground_truth.annToMask(annotation), mask)
      assert annotation["area"] == mask.sum()
      np.testing.assert_allclose(annotation["bbox"], [box[0], box[1], box[2] - box[0], box[3] - box[1]])
      annotation_index += 1
  assert annotation_index == len(dataset["annotations"])

  # The ground truth as predictions, padded to 6 per image: AP 1 for boxes and masks.
  padded = lambda key, shape, dtype: np.stack([np.concatenate(
      [e[key], np.zeros((6 - len(e[key]),) + shape, dtype)]) for e in examples])
  boxes = padded("boxes", (4,), np.float32)
  labels = padded("labels", (), np.int32)
  masks = padded("instance_masks", (64, 64), np.uint8)
  valid = np.stack([np.arange(6) < len(e["labels"]) for e in examples])
  image_ids = np.array([e["image_id"] for e in examples])
  scores = np.ones(valid.shape, np.float32)
  results = coco_export.predictions_to_coco(image_ids, boxes, scores, labels, valid, masks=masks)
  assert _evaluate(ground_truth, results, "bbox") == pytest.approx(1.0)
  assert _evaluate(ground_truth, results, "segm") == pytest.approx(1.0)
  # Boxes shifted by half their width and height overlap their target with IoU (1/4) / (7/4) = 1/7; only a
  # rare chance overlap with another object of the same class can still match at IoU >= 0.5.
  shift = (boxes[..., 2:] - boxes[..., :2]) / 2
  moved = boxes + np.concatenate([shift, shift], axis=-1)
  results = coco_export.predictions_to_coco(image_ids, moved, scores, labels, valid)
  assert _evaluate(ground_truth, results, "bbox") < 0.05


def test_predictions_are_mapped_back_with_scale():
  results = coco_export.predictions_to_coco(
      np.array([7]), np.array([[[10, 20, 30, 60]]], np.float32), np.array([[0.5]]), np.array([[2]]),
      scale=np.array([[0.5, 2.0]]))
  assert results == [{"image_id": 7, "category_id": 3, "bbox": [5.0, 40.0, 10.0, 80.0], "score": 0.5}]


def test_bad_inputs_are_rejected():
  example = {"image": np.zeros((4, 4, 3), np.uint8), "boxes": np.array([[0, 0, 1, 1]], np.float32),
             "labels": np.array([5]), "image_id": 1}
  with pytest.raises(ValueError, match="label 5 is not a class id"):
    coco_export.to_coco_dataset([example], ["a", "b"])
  example["labels"] = np.array([0])
  with pytest.raises(ValueError, match="appears twice"):
    coco_export.to_coco_dataset([example, example], ["a"])
  with pytest.raises(ValueError, match="non-finite"):
    coco_export.predictions_to_coco(np.array([1]), np.zeros((1, 1, 4)), np.array([[np.nan]]), np.zeros((1, 1)))
