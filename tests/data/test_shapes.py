"""Tests for jvision/data/shapes.py: a tiny build is deterministic and its boxes, masks and captions agree."""

import hashlib
import pathlib

import numpy as np
import pytest

from jvision.data import shapes
from jvision.data import shapes_scenes

TINY = dict(image_size=64, min_objects=1, max_objects=4, num_train=24, num_test=8)


def _build(data_dir, name="multi_tiny", **overrides):
  # The same helper as the tiny_shapes_builder fixture in conftest.py.
  config = shapes.ShapesConfig(name=name, **{**TINY, **overrides})
  builder = shapes.Shapes(config=config, data_dir=str(data_dir), file_format="array_record")
  builder.download_and_prepare(file_format="array_record")
  return builder


@pytest.fixture
def tiny_builder(tiny_shapes_builder):
  return tiny_shapes_builder


def _record_digests(builder):
  root = pathlib.Path(builder.data_dir)
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob("*.array_record*"))}


def test_same_seed_gives_same_bytes_and_other_seed_differs(tiny_builder, tmp_path):
  again = _build(tmp_path / "b")
  digests = _record_digests(tiny_builder)
  assert len(digests) == 2  # One file per split.
  assert digests == _record_digests(again)
  other = _build(tmp_path / "c", name="multi_tiny_seed1", seed=1)
  assert set(_record_digests(other).values()).isdisjoint(digests.values())


def test_example_features_agree(tiny_builder):
  source = tiny_builder.as_data_source("train")
  assert len(source) == 24
  counts = []
  for index in range(len(source)):
    example = source[index]
    image = example["image"]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    masks = np.asarray(example["objects"]["mask"])[..., 0]
    labels = np.asarray(example["objects"]["label"])
    boxes = np.asarray(example["objects"]["bbox"])
    areas = np.asarray(example["objects"]["area"])
    n = len(labels)
    counts.append(n)
    assert 1 <= n <= 4
    assert masks.shape == (n, 64, 64) and boxes.shape == (n, 4) and areas.shape == (n,)
    assert not np.any(np.asarray(example["objects"]["is_crowd"]))
    np.testing.assert_array_equal(masks.reshape(n, -1).sum(axis=1), areas)
    assert masks.sum(axis=0).max() <= 1  # Visible parts are disjoint.
    for mask, box in zip(masks, boxes):
      rows, cols = np.nonzero(mask)
      expected = np.array([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1]) / 64
      np.testing.assert_allclose(box, expected, atol=1e-6)
    expected_semantic = np.zeros((64, 64), np.uint8)
    for label, mask in zip(labels, masks):
      expected_semantic[mask > 0] = label + 1
    np.testing.assert_array_equal(example["segmentation_mask"][..., 0], expected_semantic)
    caption = example["caption"].decode()
    largest = int(np.argmax(areas))
    assert shapes_scenes.CLASS_NAMES[labels[largest]] in caption
    assert caption.startswith("a ")
  assert len(set(counts)) > 1  # Multi scenes really vary in object count.


def test_stored_example_equals_rendered_scene(tiny_builder):
  source = tiny_builder.as_data_source("test")
  example = source[3]
  scene = shapes.render(tiny_builder.builder_config, "test", int(example["image_id"]))
  np.testing.assert_array_equal(example["image"], scene.image)  # PNG is lossless.
  np.testing.assert_array_equal(np.asarray(example["objects"]["label"]), scene.labels)
  assert example["caption"].decode() == scene.caption


def test_single_config_has_exactly_one_object(tmp_path):
  builder = _build(tmp_path, name="single_tiny", max_objects=1, num_train=8, num_test=2)
  source = builder.as_data_source("train")
  assert [len(source[i]["objects"]["label"]) for i in range(len(source))] == [1] * 8


def test_registered_configs():
  names = [c.name for c in shapes.Shapes.BUILDER_CONFIGS]
  assert {"single", "multi"} <= set(names)
  by_name = {c.name: c for c in shapes.Shapes.BUILDER_CONFIGS}
  assert by_name["single"].max_objects == 1 and by_name["single"].image_size == 128
  assert by_name["multi"].max_objects > 1


def test_process_pool_writes_the_same_bytes(tiny_builder, tmp_path, monkeypatch):
  monkeypatch.setattr(shapes, "_MIN_EXAMPLES_FOR_WORKERS", 0)
  monkeypatch.setattr(shapes.Shapes, "NUM_WORKERS", 2)
  assert _record_digests(_build(tmp_path)) == _record_digests(tiny_builder)
