"""Tests for jvision/data/box_transforms.py: boxes, masks and pixels move together; shapes are static."""

import numpy as np
import pytest
import tensorflow as tf

from jvision.data import box_transforms as bt


def _rectangles_example(rng, height=40, width=56, n=5):
  """Objects whose instance mask fills its (integer) box exactly, so box == boxes_from_masks(mask)."""
  image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
  x1 = rng.integers(0, width - 4, size=n)
  y1 = rng.integers(0, height - 4, size=n)
  x2 = np.minimum(x1 + rng.integers(2, 20, size=n), width)
  y2 = np.minimum(y1 + rng.integers(2, 20, size=n), height)
  boxes = np.stack([x1, y1, x2, y2], -1).astype(np.float32)
  masks = np.zeros((n, height, width), np.uint8)
  segmentation = np.zeros((height, width), np.uint8)
  for i, (a, b, c, d) in enumerate(boxes.astype(int)):
    masks[i, b:d, a:c] = 1
    segmentation[b:d, a:c] = i + 1
  return {"image": image, "boxes": boxes, "labels": np.arange(n, dtype=np.int32),
          "instance_masks": masks, "segmentation": segmentation, "is_crowd": np.zeros(n, bool)}


def _assert_boxes_match_masks(example):
  np.testing.assert_allclose(bt.boxes_from_masks(example["instance_masks"]), example["boxes"], atol=1e-4)


def test_flip_twice_is_identity_and_flip_moves_masks_with_boxes():
  example = _rectangles_example(np.random.default_rng(0))
  flipped = bt.horizontal_flip(example)
  _assert_boxes_match_masks(flipped)
  np.testing.assert_array_equal(flipped["image"][:, 0], example["image"][:, -1])
  # Hand-computed: a box over columns 3..5 of a 10-wide image goes to columns 4..6.
  tiny = {"image": np.zeros((4, 10, 3), np.uint8), "boxes": np.array([[3, 1, 6, 2]], np.float32)}
  np.testing.assert_array_equal(bt.horizontal_flip(tiny)["boxes"], [[4, 1, 7, 2]])
  back = bt.horizontal_flip(flipped)
  for key in ("image", "boxes", "instance_masks", "segmentation", "labels"):
    np.testing.assert_array_equal(back[key], example[key])


def test_crop_clips_boxes_drops_objects_and_keeps_masks_aligned():
  rng = np.random.default_rng(1)
  for _ in range(20):
    example = _rectangles_example(rng)
    window = bt.sample_window(rng, 40, 56, scale=(0.2, 0.8))
    cropped = bt.crop(example, window)
    x1, y1, x2, y2 = window
    assert cropped["image"].shape == (y2 - y1, x2 - x1, 3)
    _assert_boxes_match_masks(cropped)
    np.testing.assert_array_equal(cropped["image"], example["image"][y1:y2, x1:x2])
    # Every object whose box overlaps the window survives, and only those.
    overlap = ((np.minimum(example["boxes"][:, 2], x2) > np.maximum(example["boxes"][:, 0], x1))
               & (np.minimum(example["boxes"][:, 3], y2) > np.maximum(example["boxes"][:, 1], y1)))
    np.testing.assert_array_equal(cropped["labels"], example["labels"][overlap])
    assert np.all(cropped["boxes"] >= 0)
    assert np.all(cropped["boxes"][:, [0, 2]] <= x2 - x1) and np.all(cropped["boxes"][:, [1, 3]] <= y2 - y1)


def test_crop_by_hand_with_visible_fraction_and_centre_rules():
  example = {"image": np.zeros((20, 20, 3), np.uint8),
             "boxes": np.array([[0, 0, 10, 10], [8, 8, 12, 12], [15, 15, 20, 20]], np.float32),
             "labels": np.array([0, 1, 2], np.int32)}
  out = bt.crop(example, (5, 5, 20, 20), min_visible_fraction=0.5)
  # Box 0 keeps 25 of 100 pixels (dropped), box 1 all 16, box 2 all 25.
  np.testing.assert_array_equal(out["labels"], [1, 2])
  np.testing.assert_array_equal(out["boxes"], [[3, 3, 7, 7], [10, 10, 15, 15]])
  out = bt.crop(example, (0, 0, 9, 9), keep="centre")
  np.testing.assert_array_equal(out["labels"], [0])  # Centre (5, 5) inside; box 1's centre (10, 10) is not.
  with pytest.raises(ValueError, match="not inside"):
    bt.crop(example, (0, 0, 30, 10))


def test_tighten_boxes_to_masks_after_cutting_a_triangle():
  mask = np.tril(np.ones((10, 10), np.uint8))  # mask[r, c] = 1 iff c <= r: the lower-left triangle.
  example = {"image": np.zeros((10, 10, 3), np.uint8), "boxes": np.array([[0, 0, 10, 10]], np.float32),
             "labels": np.array([0], np.int32), "instance_masks": mask[None]}
  cropped = bt.crop(example, (2, 0, 10, 6))
  np.testing.assert_array_equal(cropped["boxes"], [[0, 0, 8, 6]])  # The geometric clip is the whole window,
  # but what is left of the triangle is rows 2..5, columns 2..5 of the image: (0, 2, 4, 6) in the crop.
  np.testing.assert_array_equal(bt.tighten_boxes_to_masks(cropped)["boxes"], [[0, 2, 4, 6]])
  cropped = bt.crop(example, (6, 0, 10, 4))  # Columns 6..9 of rows 0..3: no triangle pixel left.
  assert bt.num_objects(cropped) == 1 and bt.num_objects(bt.tighten_boxes_to_masks(cropped)) == 0


def test_random_iou_crop_keeps_boxes_inside_and_aligned_with_masks():
  rng = np.random.default_rng(2)
  cropped_any = False
  for _ in range(30):
    example = _rectangles_example(rng)
    out = bt.random_iou_crop(example, rng, min_ious=(0.3,))
    if out is example:
      continue
    cropped_any = True
    _assert_boxes_match_masks(out)
    height, width = out["image"].shape[:2]
    assert np.all(out["boxes"] >= 0) and np.all(out["boxes"][:, 2] <= width)
    assert np.all(out["boxes"][:, 3] <= height)
    assert out["boxes"].shape[0] >= 1
  assert cropped_any


def test_random_iou_crop_window_reaches_the_drawn_iou(monkeypatch):
  windows = []
  original_crop = bt.crop

  def recording_crop(example, window, **kwargs):
    windows.append(window)
    return original_crop(example, window, **kwargs)

  monkeypatch.setattr(bt, "crop", recording_crop)
  rng = np.random.default_rng(11)
  crops = 0
  for min_iou in (0.1, 0.5, 0.7):
    for _ in range(10):
      example = _rectangles_example(rng, n=3)
      windows.clear()
      out = bt.random_iou_crop(example, rng, min_ious=(min_iou,))
      for window in windows:  # Every window tried reached the threshold with some object.
        assert bt.box_iou(example["boxes"], window).max() >= min_iou
      if out is not example:
        crops += 1
        x1, y1, x2, y2 = windows[-1]
        assert out["image"].shape[:2] == (y2 - y1, x2 - x1)
        centres = (example["boxes"][:, :2] + example["boxes"][:, 2:]) / 2
        inside = np.all((centres > [x1, y1]) & (centres < [x2, y2]), axis=1)
        np.testing.assert_array_equal(out["labels"], example["labels"][inside])
  assert crops >= 5  # High thresholds often find no window for small boxes: the example is returned as is.


def test_box_iou_by_hand():
  np.testing.assert_allclose(bt.box_iou(np.array([[0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 6, 6]]), (0, 0, 2, 2)),
                             [1.0, 1 / 7, 0.0])


def test_zoom_out_places_image_and_moves_boxes():
  example = _rectangles_example(np.random.default_rng(3))
  out = bt.zoom_out(example, np.random.default_rng(4), max_scale=3.0)
  _assert_boxes_match_masks(out)
  offset = out["boxes"][0, :2] - example["boxes"][0, :2]
  left, top = int(offset[0]), int(offset[1])
  np.testing.assert_array_equal(out["image"][top:top + 40, left:left + 56], example["image"])
  assert out["segmentation"][0, 0] == bt.IGNORE_LABEL or (top == 0 and left == 0)
  np.testing.assert_array_equal(out["boxes"] - example["boxes"], np.tile([left, top, left, top], (5, 1)))


@pytest.mark.parametrize("size", [(80, 112), (17, 23)])
def test_resize_image_matches_tensorflow_bilinear(size):
  image = np.random.default_rng(5).random((40, 56, 3)).astype(np.float32)
  expected = tf.image.resize(image, size, method="bilinear", antialias=False).numpy()
  np.testing.assert_allclose(bt.resize_image(image, *size), expected, atol=1e-5)


def test_resize_by_two_keeps_masks_and_boxes_together():
  example = _rectangles_example(np.random.default_rng(6))
  out = bt.resize(example, 80, 112)
  _assert_boxes_match_masks(out)
  np.testing.assert_array_equal(out["segmentation"], example["segmentation"].repeat(2, 0).repeat(2, 1))


def test_resize_and_pad_fits_longer_side_and_pads():
  example = bt.to_float(_rectangles_example(np.random.default_rng(7)))
  out = bt.resize_and_pad(example, 28)
  assert out["image"].shape == (28, 28, 3) and out["instance_masks"].shape == (5, 28, 28)
  np.testing.assert_allclose(out["scale"], [20 / 40, 28 / 56])
  np.testing.assert_array_equal(out["image"][20:], 0)
  np.testing.assert_array_equal(out["segmentation"][20:], bt.IGNORE_LABEL)
  np.testing.assert_allclose(out["boxes"], example["boxes"] * 0.5)
  assert np.all(out["boxes"][:, [1, 3]] <= 20)


def test_pad_objects_static_shapes_and_overflow():
  example = _rectangles_example(np.random.default_rng(8))
  padded = bt.pad_objects(example, 8)
  assert padded["boxes"].shape == (8, 4) and padded["labels"].dtype == np.int32
  np.testing.assert_array_equal(padded["valid"], [True] * 5 + [False] * 3)
  np.testing.assert_array_equal(padded["labels"][5:], -1)
  np.testing.assert_array_equal(padded["instance_masks"][5:], 0)
  truncated = bt.pad_objects(example, 2)
  largest = np.sort(np.argsort(-bt.box_areas(example["boxes"]))[:2])
  np.testing.assert_array_equal(truncated["labels"], example["labels"][largest])
  with pytest.raises(ValueError, match="more than max_objects"):
    bt.pad_objects(example, 2, overflow="raise")
  empty = bt.pad_objects({"image": example["image"], "boxes": np.zeros((0, 4), np.float32),
                          "labels": np.zeros((0,), np.int32)}, 3)
  assert not empty["valid"].any()


def test_photometric_jitter_stays_in_range_and_is_seeded():
  example = bt.to_float(_rectangles_example(np.random.default_rng(9)))
  a = bt.photometric_jitter(example, np.random.default_rng(0))
  b = bt.photometric_jitter(example, np.random.default_rng(0))
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["image"].min() >= 0 and a["image"].max() <= 1 and not np.array_equal(a["image"], example["image"])
  same = bt.photometric_jitter(example, np.random.default_rng(0), 0.0, 0.0, 0.0, 0.0)
  np.testing.assert_allclose(same["image"], example["image"], atol=1e-5)
  np.testing.assert_array_equal(a["boxes"], example["boxes"])


def test_normalize_by_hand():
  example = {"image": np.full((2, 2, 3), 255, np.uint8)}
  out = bt.normalize(example, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
  np.testing.assert_allclose(out["image"][0, 0], [2.0, 1.0, 0.5])
  with pytest.raises(ValueError, match="std must be positive"):
    bt.normalize(example, std=(0, 1, 1))


@pytest.mark.parametrize("change, message", [
    (dict(boxes=np.array([[0, 0, 70, 10]], np.float32)), "outside"),
    (dict(boxes=np.array([[5, 0, 2, 10]], np.float32)), "x2 < x1"),
    (dict(boxes=np.array([[0, 0, np.nan, 10]], np.float32)), "NaN"),
    (dict(boxes=np.zeros((1, 3), np.float32)), r"\[n, 4\]"),
    (dict(image=np.zeros((40, 56, 3), np.int64)), "dtype"),
    (dict(image=np.zeros((40, 56), np.uint8)), r"\[H, W, 3\]"),
    (dict(labels=np.array([0.0], np.float32)), "labels"),
    (dict(labels=np.array([0, 1], np.int32)), "labels"),
    (dict(instance_masks=np.zeros((1, 4, 4), np.uint8)), "instance_masks"),
])
def test_validate_names_the_problem(change, message):
  example = {"image": np.zeros((40, 56, 3), np.uint8), "boxes": np.array([[1, 2, 3, 4]], np.float32),
             "labels": np.array([0], np.int32)}
  bt.validate(example)
  with pytest.raises(ValueError, match=message):
    bt.validate({**example, **change})


def test_to_float_rejects_out_of_range_floats():
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    bt.to_float({"image": np.full((2, 2, 3), 3.0, np.float32)})


def test_random_object_crop_holds_the_object_in_a_square_window():
  rng = np.random.default_rng(0)
  image = np.arange(60 * 80 * 3, dtype=np.float32).reshape(60, 80, 3)
  example = {"image": image, "boxes": np.array([[30, 20, 40, 28]], np.float32), "labels": np.array([2])}
  for _ in range(50):
    out = bt.random_object_crop(example, rng, context=(1.3, 2.2))
    side = out["image"].shape[0]
    assert out["image"].shape == (side, side, 3) and 13 <= side <= 22  # 10 px longer side x [1.3, 2.2].
    # The whole box is inside the window, moved to window coordinates; pixels are the image's.
    box = out["boxes"][0]
    np.testing.assert_allclose(box[2:] - box[:2], [10, 8])
    assert np.all(box[:2] >= 0) and np.all(box[2:] <= side)
    left, top = 30 - int(box[0]), 20 - int(box[1])
    np.testing.assert_array_equal(out["image"], image[top:top + side, left:left + side])
  # An object wider than the window allows (near the border, window clipped to the image): centred, inside.
  big = {"image": image, "boxes": np.array([[0, 0, 70, 50]], np.float32), "labels": np.array([0])}
  out = bt.random_object_crop(big, rng, context=(1.5, 1.5))
  assert out["image"].shape == (60, 60, 3) and len(out["labels"]) == 1
  with pytest.raises(ValueError, match="1 <= low <= high"):
    bt.random_object_crop(example, rng, context=(0.5, 1.0))


def test_random_object_crop_of_an_image_without_objects_is_a_random_square_background_window():
  rng = np.random.default_rng(1)
  image = np.arange(60 * 80 * 3, dtype=np.float32).reshape(60, 80, 3)
  empty = {"image": image, "boxes": np.zeros((0, 4), np.float32), "labels": np.zeros((0,), np.int32)}
  sides = []
  for _ in range(50):
    out = bt.random_object_crop(empty, rng)
    side = out["image"].shape[0]
    assert out["image"].shape == (side, side, 3) and 18 <= side <= 60 and len(out["labels"]) == 0
    # Its pixels are a window of the image: the first pixel's value gives the window's corner.
    top, left = divmod(int(out["image"][0, 0, 0]) // 3, 80)
    np.testing.assert_array_equal(out["image"], image[top:top + side, left:left + side])
    sides.append(side)
  assert max(sides) - min(sides) > 20  # The side varies over U(0.3, 1) of 60 px.


def test_random_part_crop_is_a_window_smaller_than_the_object_centred_inside_it_with_no_object():
  rng = np.random.default_rng(3)
  image = np.arange(100 * 100 * 3, dtype=np.float32).reshape(100, 100, 3)
  box = np.array([20, 30, 60, 55], np.float32)  # 40 x 25: longer side 40.
  example = {"image": image, "boxes": box[None], "labels": np.array([3])}
  for _ in range(50):
    out = bt.random_part_crop(example, rng, context=(0.4, 0.9))
    side = out["image"].shape[0]
    assert out["image"].shape == (side, side, 3) and 16 <= side <= 36 and len(out["labels"]) == 0
    top, left = divmod(int(out["image"][0, 0, 0]) // 3, 100)
    np.testing.assert_array_equal(out["image"], image[top:top + side, left:left + side])
    centre = np.array([left + side / 2, top + side / 2])
    assert np.all(centre >= box[:2] - 0.5) and np.all(centre <= box[2:] + 0.5)  # Centred inside the object.
  empty = {"image": image, "boxes": np.zeros((0, 4), np.float32), "labels": np.zeros((0,), np.int32)}
  assert len(bt.random_part_crop(empty, rng)["labels"]) == 0
  with pytest.raises(ValueError, match="0 < low <= high < 1"):
    bt.random_part_crop(example, rng, context=(0.5, 1.2))


def test_random_background_crop_holds_at_most_a_fifth_of_every_object():
  rng = np.random.default_rng(2)
  image = np.arange(100 * 100 * 3, dtype=np.float32).reshape(100, 100, 3)
  boxes = np.array([[10, 10, 40, 40], [60, 55, 90, 95]], np.float32)
  example = {"image": image, "boxes": boxes, "labels": np.array([1, 4])}
  for _ in range(50):
    out = bt.random_background_crop(example, rng, max_object_fraction=0.2)
    side = out["image"].shape[0]
    assert out["image"].shape == (side, side, 3) and 25 <= side <= 60 and len(out["labels"]) == 0
    top, left = divmod(int(out["image"][0, 0, 0]) // 3, 100)
    window = np.array([left, top, left + side, top + side], np.float32)
    inside = np.concatenate([np.maximum(boxes[:, :2], window[:2]), np.minimum(boxes[:, 2:], window[2:])], -1)
    assert np.all(bt.box_areas(inside) <= 0.2 * bt.box_areas(boxes))
  # An object that fills the image leaves no window (of 25+ px: 6%+ of it) with under 5% of it: an object view
  # comes back instead.
  full = {"image": image, "boxes": np.array([[0, 0, 100, 100]], np.float32), "labels": np.array([2])}
  out = bt.random_background_crop(full, rng, max_object_fraction=0.05)
  assert list(out["labels"]) == [2]
  with pytest.raises(ValueError, match="max_object_fraction"):
    bt.random_background_crop(example, rng, max_object_fraction=1.0)
