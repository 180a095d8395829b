"""Tests for jvision/ops/rle.py against pycocotools.mask (test-only reference) and dense numpy masks."""

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from jvision.ops import rle


def random_masks(seed, count, shape=None):
  """Masks of random density, including all-empty and all-full ones and 1-pixel sizes."""
  rng = np.random.default_rng(seed)
  masks = []
  for i in range(count):
    height, width = shape if shape is not None else rng.integers(1, 50, 2)
    mask = rng.uniform(size=(height, width)) < rng.uniform()
    if i % 5 == 0:
      mask = np.cumsum(mask, axis=0) % 3 == 0  # long vertical runs that cross columns
    if i % 9 == 0:
      mask[:] = False
    if i % 11 == 0:
      mask[:] = True
    masks.append(mask)
  return masks


def reference_rle(mask):
  return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def test_encode_decode_match_pycocotools():
  for mask in random_masks(0, 60):
    reference = reference_rle(mask)
    ours = rle.mask_to_rle(mask)
    assert ours["counts"] == reference["counts"].decode("ascii")
    assert ours["size"] == list(reference["size"])
    np.testing.assert_array_equal(rle.rle_to_mask(reference), mask)  # bytes counts
    np.testing.assert_array_equal(rle.rle_to_mask(ours), mask)  # str counts
    np.testing.assert_array_equal(rle.rle_to_mask(rle.mask_to_rle(mask, compressed=False)), mask)  # list counts
    counts = rle.rle_counts(rle.mask_to_rle(mask, compressed=False))
    np.testing.assert_array_equal(rle.decompress_counts(reference["counts"]), counts)


def test_counts_with_large_and_negative_differences_round_trip():
  # Differences to the count two before are negative here and need several 5-bit groups.
  counts = [0, 1, 70000, 3, 5, 123456, 2, 1, 0, 31, 32, 16, 15, 1000000]
  string = rle.compress_counts(counts)
  np.testing.assert_array_equal(rle.decompress_counts(string), counts)
  total = sum(counts)
  reference = mask_utils.frPyObjects({"size": [total, 1], "counts": counts}, total, 1)
  assert string == reference["counts"].decode("ascii")


def test_run_length_masks_areas_and_runs():
  masks = random_masks(1, 40)
  packed = rle.RunLengthMasks.from_rles([reference_rle(m) if i % 2 else rle.mask_to_rle(m, compressed=False)
                                         for i, m in enumerate(masks)])
  assert len(packed) == len(masks)
  np.testing.assert_array_equal(packed.areas, [m.sum() for m in masks])
  np.testing.assert_array_equal(packed.areas, mask_utils.area([reference_rle(m) for m in masks]))
  for i, mask in enumerate(masks):
    flat = np.zeros(mask.size, bool)
    for start, end in zip(packed.starts[packed.offsets[i]:packed.offsets[i + 1]],
                          packed.ends[packed.offsets[i]:packed.offsets[i + 1]]):
      flat[start:end] = True
    np.testing.assert_array_equal(flat, mask.ravel(order="F"))


@pytest.mark.parametrize("chunk", [1, 7, 1 << 22])
def test_pairwise_iou_matches_pycocotools(chunk):
  detections = random_masks(2, 25, shape=(30, 17))
  ground_truth = random_masks(3, 20, shape=(30, 17))
  crowd = np.random.default_rng(4).uniform(size=len(ground_truth)) < 0.3
  det_index, gt_index = (a.ravel() for a in np.meshgrid(np.arange(25), np.arange(20), indexing="ij"))
  det_packed = rle.RunLengthMasks.from_rles([rle.mask_to_rle(m) for m in detections])
  gt_packed = rle.RunLengthMasks.from_rles([rle.mask_to_rle(m) for m in ground_truth])
  intersection = rle.pairwise_mask_intersection(det_packed, det_index, gt_packed, gt_index, chunk=chunk)
  np.testing.assert_array_equal(
      intersection, [(detections[d] & ground_truth[g]).sum() for d, g in zip(det_index, gt_index)])
  ours = rle.pairwise_mask_iou(det_packed, det_index, gt_packed, gt_index, crowd[gt_index])
  reference = mask_utils.iou([reference_rle(m) for m in detections], [reference_rle(m) for m in ground_truth],
                             crowd.astype(np.uint8))
  np.testing.assert_array_equal(ours.reshape(25, 20), reference)  # bit-identical division


def test_hand_computed_iou():
  a, b = np.zeros((6, 6), bool), np.zeros((6, 6), bool)
  a[0:4, 0:4] = True  # 16 pixels
  b[2:6, 2:6] = True  # 16 pixels, 4 shared
  packed = rle.RunLengthMasks.from_rles([rle.mask_to_rle(a), rle.mask_to_rle(b)])
  iou = rle.pairwise_mask_iou(packed, [0, 0], packed, [1, 1], np.array([False, True]))
  np.testing.assert_allclose(iou, [4 / 28, 4 / 16])
  assert rle.pairwise_mask_iou(packed, np.zeros(0, int), packed, np.zeros(0, int), np.zeros(0, bool)).shape == (0,)


def test_errors_name_the_problem():
  with pytest.raises(ValueError, match="a polygon segmentation is not an RLE"):
    rle.RunLengthMasks.from_rles([[[0, 0, 4, 0, 4, 4]]])
  with pytest.raises(ValueError, match="segmentation 1: RLE counts must be >= 0 and sum to H \\* W = 6"):
    rle.RunLengthMasks.from_rles([{"size": [2, 3], "counts": [6]}, {"size": [2, 3], "counts": [2, 3]}])
  with pytest.raises(ValueError, match="truncated"):
    rle.decompress_counts("0P")  # 'P' - 48 = 0x20: "more groups follow", then nothing
  packed = rle.RunLengthMasks.from_rles([rle.mask_to_rle(np.ones((2, 3))), rle.mask_to_rle(np.ones((3, 2)))])
  with pytest.raises(ValueError, match="compared with a ground-truth mask of size \\[3, 2\\]"):
    rle.pairwise_mask_iou(packed, [0], packed, [1], [False])
