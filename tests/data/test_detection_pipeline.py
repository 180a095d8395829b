"""Tests for jvision/data/detection_pipeline.py: static-shape batches, seeded augmentation, every adapter."""

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.data import adapters
from jvision.data import box_transforms as bt
from jvision.data import detection_pipeline as dp

SIZE, MAX_OBJECTS = 48, 5


def _shapes_dataset(builder, seed, train=True, batch_size=4):
  transform = dp.make_transform(train=train, image_size=SIZE, max_objects=MAX_OBJECTS,
                                augment="ssd" if train else "none", caption_length=24)
  return dp.make_dataset(builder.as_data_source("train"), adapters.adapt_shapes, transform,
                         batch_size=batch_size, seed=seed, shuffle=train, with_masks=True,
                         with_segmentation=True, drop_remainder=True)


def test_shapes_training_batches_have_static_shapes_and_aligned_targets(tiny_shapes_builder):
  batches = list(_shapes_dataset(tiny_shapes_builder, seed=0))
  assert len(batches) == 24 // 4
  traces = []

  @jax.jit
  def reduce(batch):
    traces.append(1)
    return jnp.sum(batch["boxes"] * batch["valid"][..., None]) + jnp.sum(batch["image"])

  edge_errors = []
  for batch in batches:
    assert batch["image"].shape == (4, SIZE, SIZE, 3) and batch["image"].dtype == np.float32
    assert batch["boxes"].shape == (4, MAX_OBJECTS, 4) and batch["labels"].dtype == np.int32
    assert batch["instance_masks"].shape == (4, MAX_OBJECTS, SIZE, SIZE)
    assert batch["segmentation"].shape == (4, SIZE, SIZE) and batch["segmentation"].dtype == np.uint8
    assert batch["caption_tokens"].shape == (4, 24) and batch["image_id"].shape == (4,)
    assert np.all(np.isfinite(batch["image"]))
    np.testing.assert_array_equal(batch["labels"] < 0, ~batch["valid"])
    assert np.all(batch["boxes"] >= 0) and np.all(batch["boxes"] <= SIZE)
    for boxes, masks, valid in zip(batch["boxes"], batch["instance_masks"], batch["valid"]):
      assert not masks[~valid].any()
      # Boxes are tightened to the masks after cropping; nearest-neighbour downsizing of the mask can then
      # only shrink it (a thin tip may fall between samples) or move an edge by under one output pixel.
      mask_boxes = bt.boxes_from_masks(masks[valid])
      nonempty = mask_boxes[:, 2] > mask_boxes[:, 0]
      inner, outer = mask_boxes[nonempty], boxes[valid][nonempty]
      assert np.all(inner[:, :2] >= outer[:, :2] - 1) and np.all(inner[:, 2:] <= outer[:, 2:] + 1)
      edge_errors.extend(np.abs(inner - outer).ravel())
    reduce(batch)
  assert len(traces) == 1  # One compilation for every batch.
  assert np.median(edge_errors) < 0.6 and len(edge_errors) > 20


def test_same_seed_same_batches_and_other_seed_differs(tiny_shapes_builder):
  first = next(iter(_shapes_dataset(tiny_shapes_builder, seed=3)))
  again = next(iter(_shapes_dataset(tiny_shapes_builder, seed=3)))
  other = next(iter(_shapes_dataset(tiny_shapes_builder, seed=4)))
  for key in ("image", "boxes", "labels", "instance_masks", "image_id"):
    np.testing.assert_array_equal(first[key], again[key])
  assert not np.array_equal(first["image"], other["image"])


def test_eval_pipeline_is_resize_and_normalize_only(tiny_shapes_builder):
  batch = next(iter(_shapes_dataset(tiny_shapes_builder, seed=0, train=False, batch_size=2)))
  raw = tiny_shapes_builder.as_data_source("train")[1]
  image = raw["image"].astype(np.float32) / 255.0
  expected = (bt.resize_image(image, SIZE, SIZE) - np.array(bt.IMAGENET_MEAN)) / np.array(bt.IMAGENET_STD)
  np.testing.assert_allclose(batch["image"][1], expected, atol=1e-5)
  n = len(raw["objects"]["label"])
  bbox = np.asarray(raw["objects"]["bbox"])
  np.testing.assert_allclose(batch["boxes"][1, :n], bbox[:, [1, 0, 3, 2]] * SIZE, atol=1e-4)
  assert batch["image_id"][1] == raw["image_id"]
  tokens = batch["caption_tokens"][1]
  assert bytes((tokens[tokens > 0] - 1).astype(np.uint8)).decode() == (
      raw["caption"].decode()[:24])


@pytest.mark.parametrize("name, segmentation", [
    ("voc/2007", False), ("voc/2012", False), ("coco/2017", False), ("coco_captions", False),
    ("oxford_iiit_pet", True), ("coco/2017_panoptic", True)])
def test_every_adapter_through_the_pipeline_on_mock_data(name, segmentation, mock_sources):
  _, source = mock_sources(name, 6)
  transform = dp.make_transform(train=True, image_size=SIZE, max_objects=MAX_OBJECTS, caption_length=16)
  dataset = dp.make_dataset(source, adapters.get_adapter(name), transform, batch_size=3, seed=0,
                            num_epochs=2, with_segmentation=segmentation)
  batches = list(dataset)
  assert len(batches) == 4  # 6 examples x 2 epochs / 3.
  for batch in batches:
    assert batch["image"].shape == (3, SIZE, SIZE, 3)
    assert batch["boxes"].shape == (3, MAX_OBJECTS, 4) and batch["valid"].shape == (3, MAX_OBJECTS)
    assert np.all(batch["boxes"][..., 2:] <= SIZE) and np.all(batch["boxes"] >= 0)
    assert not batch["is_crowd"].any()  # Crowd / difficult objects are dropped in training.
    if segmentation:
      assert batch["segmentation"].shape == (3, SIZE, SIZE)
      assert batch["segmentation"].dtype == np.uint8
      if name == "oxford_iiit_pet":
        assert set(np.unique(batch["segmentation"])) <= {0, 1, 255}
    if name == "coco_captions":
      assert batch["caption_tokens"].shape == (3, 16) and "caption" not in batch


def test_caption_text_without_tokens(mock_sources):
  _, source = mock_sources("coco_captions", 2)
  transform = dp.make_transform(train=False, image_size=SIZE, max_objects=MAX_OBJECTS, augment="none")
  batch = next(iter(dp.make_dataset(source, adapters.adapt_coco_captions, transform, batch_size=2,
                                    shuffle=False)))
  assert list(batch["caption"]) == [str(source[i]["captions"]["text"][0]) for i in range(2)]
  assert "caption_tokens" not in batch


def test_bad_options_are_rejected():
  with pytest.raises(ValueError, match="unknown augment"):
    dp.make_transform(train=True, image_size=32, max_objects=4, augment="mosaic")
  with pytest.raises(ValueError, match="batch_size"):
    dp.make_dataset([], adapters.adapt_coco, lambda ex, rng: ex, batch_size=0)


def test_tokenize_bytes_by_hand():
  np.testing.assert_array_equal(dp.tokenize_bytes("ab", 4), [98, 99, 0, 0])
  np.testing.assert_array_equal(dp.tokenize_bytes("abcdef", 3), [98, 99, 100])


def test_make_loader_builds_the_embedded_dataset_on_first_use(tmp_path, monkeypatch):
  from jvision.data import shapes  # pylint: disable=import-outside-toplevel
  config = next(c for c in shapes.Shapes.BUILDER_CONFIGS if c.name == "multi_64")
  monkeypatch.setattr(config, "num_train", 8)  # A registered config, shrunk so the test builds it quickly.
  monkeypatch.setattr(config, "num_test", 4)
  loader = dp.make_loader("shapes/multi_64", "test", train=False, batch_size=2, image_size=32, max_objects=6,
                          data_dir=str(tmp_path), with_masks=True, with_segmentation=True)
  batches = list(loader)
  assert len(batches) == 2 and batches[0]["instance_masks"].shape == (2, 6, 32, 32)
  # TFDS stores records in its own (hashed) order; image_id is the example's index at generation.
  assert sorted(int(i) for b in batches for i in b["image_id"]) == [0, 1, 2, 3]
  assert "caption" in batches[0] and batches[0]["caption"][0].startswith("a ")


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 7), augment=st.sampled_from(dp.AUGMENTATIONS))
def test_training_transform_invariants_on_random_rectangles(seed, n, augment):
  rng = np.random.default_rng(seed)
  height, width = rng.integers(20, 90, size=2)
  x1, y1 = rng.integers(0, width - 1, size=n), rng.integers(0, height - 1, size=n)
  x2, y2 = x1 + rng.integers(1, width - x1 + 1), y1 + rng.integers(1, height - y1 + 1)
  boxes = np.stack([x1, y1, x2, y2], -1).reshape(n, 4).astype(np.float32)
  masks = np.zeros((n, height, width), np.uint8)
  for k, (a, b, c, d) in enumerate(boxes.astype(int)):
    masks[k, b:d, a:c] = 1
  example = {"image": rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "boxes": boxes,
             "labels": rng.integers(0, 5, n).astype(np.int32), "instance_masks": masks, "image_id": 1}
  out = dp.transform_example(example, rng, train=True, image_size=32, max_objects=4, augment=augment)
  assert out["image"].shape == (32, 32, 3) and np.all(np.isfinite(out["image"]))
  valid = out["valid"]
  assert valid.sum() <= min(n, 4)
  assert np.all(out["boxes"][valid] >= 0) and np.all(out["boxes"][valid] <= 32)
  assert np.all(out["boxes"][valid][:, 2:] - out["boxes"][valid][:, :2] >= 1.0)  # min_box_size
  np.testing.assert_array_equal(out["labels"][~valid], -1)
  assert not out["instance_masks"][~valid].any()


def test_each_epoch_is_a_new_permutation(tiny_shapes_builder):
  transform = dp.make_transform(train=True, image_size=SIZE, max_objects=MAX_OBJECTS, augment="flip")
  dataset = dp.make_dataset(tiny_shapes_builder.as_data_source("train"), adapters.adapt_shapes, transform,
                            batch_size=24, seed=0, num_epochs=2)
  first, second = list(dataset)
  assert sorted(first["image_id"]) == sorted(second["image_id"]) == list(range(24))
  assert list(first["image_id"]) != list(second["image_id"])
