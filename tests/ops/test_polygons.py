"""Tests for jvision/ops/polygons.py: the exact rasterization of pycocotools' frPyObjects (test-only reference)."""

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from jvision.ops import polygons, rle


def random_polygon(rng, height, width, case):
  """Vertices in and around the image; on some cases snapped to half or whole pixels (coinciding boundary
  points, which exercise the merging of zero-length runs) or with a repeated vertex (a zero-length edge)."""
  vertices = rng.uniform(-5, max(height, width) + 5, 2 * int(rng.integers(3, 9)))
  if case % 2 == 0:
    vertices = np.round(vertices * 2) / 2
  if case % 4 == 0:
    vertices = np.round(vertices)
  if case % 7 == 0:
    vertices[2:4] = vertices[0:2]
  return vertices.tolist()


def test_counts_equal_pycocotools_for_single_polygons():
  rng = np.random.default_rng(0)
  for case in range(1500):
    height, width = (int(v) for v in rng.integers(1, 30, 2))
    polygon = random_polygon(rng, height, width, case)
    reference = mask_utils.frPyObjects([polygon], height, width)[0]
    np.testing.assert_array_equal(polygons.polygon_counts(polygon, height, width),
                                  rle.decompress_counts(reference["counts"]), err_msg=f"case {case}")


def test_union_of_parts_equals_pycocotools_merge():
  rng = np.random.default_rng(1)
  for case in range(600):
    height, width = (int(v) for v in rng.integers(1, 40, 2))
    parts = [random_polygon(rng, height, width, case) for _ in range(int(rng.integers(1, 4)))]
    reference = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(parts, height, width)))
    ours = polygons.polygons_to_rle(parts, height, width)
    assert ours["size"] == [height, width]
    np.testing.assert_array_equal(rle.rle_to_mask(ours), reference.astype(bool), err_msg=f"case {case}")


def test_hand_built_square():
  # The square with corners (1, 1) and (4, 4) covers the pixels 1..3 in both axes under pycocotools' rule.
  mask = rle.rle_to_mask(polygons.polygons_to_rle([[1, 1, 4, 1, 4, 4, 1, 4]], 6, 6))
  expected = np.zeros((6, 6), bool)
  expected[1:4, 1:4] = True
  np.testing.assert_array_equal(mask, expected)


def test_errors_name_the_problem():
  with pytest.raises(ValueError, match="at least 3 vertices; got 4 numbers"):
    polygons.polygons_to_rle([[0, 0, 5, 5]], 10, 10)
  with pytest.raises(ValueError, match="non-empty list"):
    polygons.polygons_to_rle([], 10, 10)
