"""Tests for jvision/data/shapes_scenes.py: determinism, geometry and captions of rendered scenes."""

import numpy as np
import pytest

from jvision.data import shapes_scenes


def test_same_generator_state_gives_identical_scene():
  a = shapes_scenes.generate_scene(np.random.default_rng(7), 64, 1, 5)
  b = shapes_scenes.generate_scene(np.random.default_rng(7), 64, 1, 5)
  c = shapes_scenes.generate_scene(np.random.default_rng(8), 64, 1, 5)
  np.testing.assert_array_equal(a.image, b.image)
  np.testing.assert_array_equal(a.masks, b.masks)
  assert a.caption == b.caption
  assert not np.array_equal(a.image, c.image)


def test_every_object_keeps_half_of_itself_visible_and_boxes_match_masks():
  for seed in range(30):
    scene = shapes_scenes.generate_scene(np.random.default_rng(seed), 64, 3, 6)
    n = len(scene.labels)
    assert 1 <= n <= 6
    assert scene.masks.sum(axis=0).max() <= 1
    np.testing.assert_array_equal(scene.masks.reshape(n, -1).sum(1), scene.areas)
    assert np.all(scene.areas > 0)
    assert np.all((scene.boxes >= 0) & (scene.boxes <= 1))
    assert np.all(scene.boxes[:, 2] > scene.boxes[:, 0]) and np.all(scene.boxes[:, 3] > scene.boxes[:, 1])


def test_all_classes_colours_and_sizes_occur():
  labels, colours, sizes = set(), set(), set()
  for seed in range(60):
    scene = shapes_scenes.generate_scene(np.random.default_rng(seed), 32, 1, 3)
    labels |= set(scene.labels.tolist())
    colours |= set(scene.colours.tolist())
    sizes |= set(scene.sizes.tolist())
  assert labels == set(range(len(shapes_scenes.CLASS_NAMES)))
  assert colours == set(range(len(shapes_scenes.COLOUR_NAMES)))
  assert sizes == set(range(len(shapes_scenes.SIZE_NAMES)))


def test_global_colour_threshold_does_not_segment_the_objects():
  # For each colour, take the 5-95 percentile box of its objects' RGB values over many scenes as a colour
  # threshold. Lighting, shading and photographic backgrounds make that threshold fire on the background
  # too: its pixel precision stays far from 1 for every colour.
  scenes = [shapes_scenes.generate_scene(np.random.default_rng(seed), 64, 1, 4) for seed in range(100)]
  precisions = []
  for colour in range(len(shapes_scenes.COLOUR_NAMES)):
    owned = [np.isin(np.arange(len(s.colours)), np.nonzero(s.colours == colour)[0]) for s in scenes]
    own_masks = [s.masks[o].any(axis=0) if o.any() else np.zeros((64, 64), bool) for s, o in zip(scenes, owned)]
    pixels = np.concatenate([s.image[m] for s, m in zip(scenes, own_masks)]).astype(int)
    assert np.ptp(pixels, axis=0).max() > 60  # Objects are far from flat colour.
    low, high = np.percentile(pixels, 5, axis=0), np.percentile(pixels, 95, axis=0)
    true_positive = false_positive = 0
    for scene, mask in zip(scenes, own_masks):
      inside = np.all((scene.image >= low) & (scene.image <= high), axis=-1)
      true_positive += np.sum(inside & mask)
      false_positive += np.sum(inside & ~mask)
    precisions.append(true_positive / (true_positive + false_positive))
  assert max(precisions) < 0.9 and np.mean(precisions) < 0.7, precisions


def test_captions_by_hand():
  # Object 0 (largest) at the top, object 1 below it.
  boxes = np.array([[0.0, 0.4, 0.3, 0.6], [0.6, 0.4, 0.9, 0.6]])
  caption = shapes_scenes.make_caption([3, 0], [0, 2], [2, 0], boxes, [90, 40])
  assert caption == "a large red star above a small blue circle"
  caption = shapes_scenes.make_caption([3, 0], [0, 2], [2, 0], boxes, [40, 90])
  assert caption == "a small blue circle below a large red star"
  boxes3 = np.array([[0.4, 0.0, 0.6, 0.2], [0.4, 0.7, 0.6, 0.9], [0.0, 0.0, 0.1, 0.1]])
  caption = shapes_scenes.make_caption([1, 4, 2], [1, 3, 4], [1, 1, 0], boxes3, [50, 40, 10])
  assert caption == "a medium green square to the left of a medium yellow hexagon and one more shape"
  assert shapes_scenes.make_caption([5], [6], [0], np.array([[0.7, 0.7, 0.9, 0.9]]), [5]) == (
      "a small white ellipse in the bottom right")


def test_bad_arguments_are_rejected():
  with pytest.raises(ValueError, match="image_size"):
    shapes_scenes.generate_scene(np.random.default_rng(0), 8)
  with pytest.raises(ValueError, match="min_objects"):
    shapes_scenes.generate_scene(np.random.default_rng(0), 64, 3, 2)
