"""Tests for jvision/viz.py: pixels drawn where boxes and masks are, grids, PNG round trip."""

import numpy as np
import pytest
from PIL import Image

from jvision import viz


def test_palette_is_the_voc_colour_map():
  colours = viz.palette(4)
  np.testing.assert_array_equal(colours, [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])
  assert len({tuple(c) for c in viz.palette(256)}) == 256


def test_draw_boxes_outlines_exactly_the_box_and_skips_padding_and_low_scores():
  image = np.zeros((40, 50, 3), np.uint8)
  boxes = np.array([[10, 20, 30, 35], [1, 1, 5, 5], [2, 2, 8, 8]], np.float32)
  out = viz.draw_boxes(image, boxes, labels=np.array([0, -1, 1]), scores=np.array([0.9, 0.9, 0.1]),
                       min_score=0.5)
  colour = viz.palette(2)[1]
  # Box 0 covers columns 10..29 and rows 20..34: its outline is on those pixels.
  np.testing.assert_array_equal(out[34, 10:30], np.tile(colour, (20, 1)))
  np.testing.assert_array_equal(out[20:35, 29], np.tile(colour, (15, 1)))
  assert not out[21:34, 11:29].any()  # Interior untouched.
  assert not out[20:, 30:].any() and not out[35:].any()  # Nothing right of or below it.
  assert out[10:20, 10:30].any()  # The caption "0 0.90" sits above the box.
  assert not out[:9, :9].any()  # Padding (label -1) and the low-score box are not drawn.


def test_draw_boxes_rejects_non_finite_boxes():
  with pytest.raises(ValueError, match="non-finite"):
    viz.draw_boxes(np.zeros((8, 8, 3), np.uint8), np.array([[0, 0, np.nan, 4]]), np.array([0]))


def test_overlay_segmentation_blends_only_labelled_pixels():
  image = np.full((4, 4, 3), 100, np.uint8)
  segmentation = np.array([[0, 1, 2, 255]] * 4, np.uint8)
  out = viz.overlay_segmentation(image, segmentation, alpha=0.5)
  np.testing.assert_array_equal(out[:, 0], image[:, 0])
  np.testing.assert_array_equal(out[:, 3], image[:, 3])
  np.testing.assert_array_equal(out[0, 1], [114, 50, 50])  # (100 + 128) / 2 = 114, 100 / 2 = 50.
  np.testing.assert_array_equal(out[0, 2], [50, 114, 50])
  with pytest.raises(ValueError, match="segmentation is"):
    viz.overlay_segmentation(image, segmentation[:2])


def test_overlay_instance_masks_respects_valid():
  image = np.zeros((6, 6, 3), np.uint8)
  masks = np.zeros((2, 6, 6), np.uint8)
  masks[0, :3] = 1
  masks[1, 3:] = 1
  out = viz.overlay_instance_masks(image, masks, valid=np.array([True, False]), alpha=1.0)
  np.testing.assert_array_equal(out[:3], np.broadcast_to(viz.palette(2)[1], (3, 6, 3)))
  assert not out[3:].any()


def test_to_uint8_undoes_normalisation():
  mean, std = np.array([0.5, 0.4, 0.3]), np.array([0.2, 0.25, 0.5])
  original = np.random.default_rng(0).integers(0, 256, (5, 5, 3)).astype(np.uint8)
  normalised = (original / 255.0 - mean) / std
  np.testing.assert_array_equal(viz.to_uint8(normalised, mean, std), original)
  with pytest.raises(ValueError, match="NaN"):
    viz.to_uint8(np.full((2, 2, 3), np.nan, np.float32))


def test_tile_places_images_in_rows():
  images = [np.full((3, 4, 3), i * 40, np.uint8) for i in range(5)]
  grid = viz.tile(images, columns=2, padding=1)
  assert grid.shape == (3 * 4 + 1, 2 * 5 + 1, 3)
  np.testing.assert_array_equal(grid[1:4, 6:10], images[1])
  np.testing.assert_array_equal(grid[9:12, 1:5], images[4])
  np.testing.assert_array_equal(grid[9:12, 6:10], 255)  # The empty cell is padding.
  with pytest.raises(ValueError, match="one size"):
    viz.tile([images[0], np.zeros((2, 2, 3), np.uint8)])


def test_save_png_round_trip(tmp_path):
  picture = np.random.default_rng(1).integers(0, 256, (7, 9, 3)).astype(np.uint8)
  path = viz.save_png(str(tmp_path / "pictures" / "a.png"), picture)
  np.testing.assert_array_equal(np.asarray(Image.open(path)), picture)


def test_detection_grid_of_a_batch():
  batch = {"image": np.zeros((3, 16, 16, 3), np.float32), "boxes": np.array([[[2, 2, 10, 10]]] * 3, np.float32),
           "labels": np.array([[1]] * 3), "valid": np.ones((3, 1), bool),
           "instance_masks": np.ones((3, 1, 16, 16), np.uint8)}
  grid = viz.detection_grid(batch, ["a", "b"], mean=(0, 0, 0), std=(1, 1, 1))
  assert grid.shape == (2 * 18 + 2, 2 * 18 + 2, 3)
  predictions = {"boxes": batch["boxes"], "labels": batch["labels"], "scores": np.array([[0.2]] * 3)}
  assert viz.detection_grid(batch, ["a", "b"], predictions, min_score=0.5).shape == grid.shape


def test_detection_grid_overlays_the_masks_of_drawn_detections_only():
  image = np.zeros((1, 48, 48, 3), np.float32)
  masks = np.zeros((1, 2, 48, 48), bool)
  masks[0, 0, 20:40, 20:40] = True  # Detection 0: score 0.9, drawn.
  masks[0, 1, 2:10, 30:45] = True  # Detection 1: score 0.1, below min_score.
  batch = {"image": image, "boxes": np.zeros((1, 1, 4), np.float32), "labels": np.zeros((1, 1), np.int64),
           "valid": np.zeros((1, 1), bool), "instance_masks": np.ones((1, 1, 48, 48), bool)}
  predictions = {"boxes": np.array([[[20, 20, 40, 40], [2, 30, 10, 45]]], np.float32),
                 "labels": np.array([[0, 1]]), "scores": np.array([[0.9, 0.1]]), "valid": np.ones((1, 2), bool),
                 "masks": masks}
  grid = viz.detection_grid(batch, ["a", "b"], predictions, mean=(0, 0, 0), std=(1, 1, 1), min_score=0.5)
  cell = grid[2:50, 2:50]
  colour = viz.palette(256)[1]  # Label 0's mask colour, blended at alpha 0.5 over black.
  np.testing.assert_allclose(cell[36, 36], colour * 0.5, atol=1)
  np.testing.assert_array_equal(cell[6, 38], 0)  # Not drawn: no overlay, no box.
  np.testing.assert_array_equal(cell[12, 10], 0)  # Predicted masks replace the ground truth's overlay.
