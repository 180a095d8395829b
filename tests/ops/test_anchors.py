"""Tests for jvision/ops/anchors.py: hand-computed anchors, SSD300's 8732 boxes, YOLO round trips."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.ops import anchors


def test_anchor_grid_hand_values_and_order():
  grid = anchors.anchor_grid((2, 3), 16, scales=(32.0, 64.0), aspect_ratios=(0.5, 1.0, 2.0), offset=0.5)
  chex.assert_shape(grid, (2 * 3 * 6, 4))
  grid = np.asarray(grid).reshape(2, 3, 3, 2, 4)  # rows, cols, ratios, scales
  # Row 1, column 2: centre (40, 24); ratio 2 (tall), scale 32: 32/sqrt(2) wide, 32*sqrt(2) tall.
  w, h = 32 / np.sqrt(2), 32 * np.sqrt(2)
  np.testing.assert_allclose(grid[1, 2, 2, 0], [40 - w / 2, 24 - h / 2, 40 + w / 2, 24 + h / 2], rtol=1e-6)
  widths = grid[..., 2] - grid[..., 0]
  heights = grid[..., 3] - grid[..., 1]
  np.testing.assert_allclose(widths * heights, np.broadcast_to(np.array([32.0, 64.0]) ** 2, widths.shape), rtol=1e-5)
  np.testing.assert_allclose(heights / widths, np.broadcast_to(np.array([0.5, 1.0, 2.0])[:, None], widths.shape),
                             rtol=1e-5)
  with pytest.raises(ValueError, match="positive"):
    anchors.anchor_grid((2, 2), 8, (0.0,), (1.0,))


def test_ssd300_has_8732_default_boxes():
  boxes = anchors.ssd_default_boxes(
      feature_sizes=(38, 19, 10, 5, 3, 1), image_size=300, min_sizes=(30, 60, 111, 162, 213, 264),
      max_sizes=(60, 111, 162, 213, 264, 315), aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
      steps=(8, 16, 32, 64, 100, 300))
  chex.assert_shape(boxes, (8732, 4))
  boxes = np.asarray(boxes)
  assert boxes.min() >= 0 and boxes.max() <= 1
  # First cell of the first layer: centre 4/300; the min square is 30 px, the second sqrt(30*60) px.
  centre = 4 / 300
  np.testing.assert_allclose(boxes[0], np.clip([centre - 0.05, centre - 0.05, centre + 0.05, centre + 0.05], 0, 1),
                             rtol=1e-5)
  np.testing.assert_allclose(boxes[1, 2] - centre, np.sqrt(30 * 60) / 300 / 2, rtol=1e-5)
  # The last layer's single cell is the image centre; the ratio-2 pair are transposes of each other.
  last = boxes[-4:]
  np.testing.assert_allclose((last[:, 0] + last[:, 2]) / 2, 0.5, rtol=1e-5)
  np.testing.assert_allclose(last[2, 2] - last[2, 0], last[3, 3] - last[3, 1], rtol=1e-5)


def test_yolo_grid_index_and_round_trip():
  cells = anchors.yolo_cell_grid(7, (448, 448))
  chex.assert_shape(cells, (7, 7, 4))
  chex.assert_trees_all_close(cells[1, 2], jnp.array([128.0, 64.0, 192.0, 128.0]))
  boxes = jnp.array([[100.0, 70.0, 200.0, 150.0], [0.0, 0.0, 448.0, 448.0], [440.0, 440.0, 448.0, 448.0]])
  index = anchors.yolo_cell_index(boxes, 7, (448, 448))
  np.testing.assert_array_equal(index, [[1, 2], [3, 3], [6, 6]])
  targets = anchors.yolo_encode_boxes(boxes, index, 7, (448, 448))
  grid = jnp.zeros((7, 7, 4)).at[index[:, 0], index[:, 1]].set(targets)
  decoded = anchors.yolo_decode_boxes(grid, 7, (448, 448))[index[:, 0], index[:, 1]]
  chex.assert_trees_all_close(decoded, boxes, atol=1e-3)
  assert np.all((targets[:, :2] >= 0) & (targets[:, :2] <= 1))
