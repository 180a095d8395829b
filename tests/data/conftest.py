"""Fixtures for the data tests: one tiny shapes build (64 px, a few dozen examples) per test session, and
TFDS mock-data sources for the standard datasets.

TFDS's mock generator draws every field independently, so its ``objects`` fields have different lengths, its
boxes have max < min and the pet trimap has another size than the image. ``mock_sources`` returns both the raw
mock source (to exercise the adapters' errors) and a repaired copy, made coherent the way real data is (one
length, ordered corners, the mask at the image size), for format and pipeline checks.
"""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jvision.data import box_transforms
from jvision.data import shapes

TINY = dict(image_size=64, min_objects=1, max_objects=4, num_train=24, num_test=8)


def build_tiny_shapes(data_dir, name="multi_tiny", **overrides):
  config = shapes.ShapesConfig(name=name, **{**TINY, **overrides})
  builder = shapes.Shapes(config=config, data_dir=str(data_dir), file_format="array_record")
  builder.download_and_prepare(file_format="array_record")
  return builder


@pytest.fixture(scope="session")
def tiny_shapes_builder(tmp_path_factory):
  return build_tiny_shapes(tmp_path_factory.mktemp("tiny_shapes"))


MOCK_POLICY = tfds.testing.MockPolicy.USE_CODE


def make_consistent(example: dict) -> dict:
  """A mock example made coherent: objects truncated to one length, boxes with ordered corners, trimap
  resized (nearest) to the image and mapped to values 1..3."""
  example = dict(example)
  for key in ("objects", "panoptic_objects"):
    if key not in example:
      continue
    objects = {k: np.asarray(v) for k, v in example[key].items()}
    n = min(len(v) for v in objects.values())
    objects = {k: v[:n] for k, v in objects.items()}
    bbox = objects["bbox"]
    objects["bbox"] = np.concatenate([np.minimum(bbox[:, :2], bbox[:, 2:]), np.maximum(bbox[:, :2], bbox[:, 2:])],
                                     axis=1)
    example[key] = objects
  if "panoptic_image" in example:
    # Segment k (id 1000 + k, unique) painted over its box, later ones on top; the rest is void (id 0).
    height, width = example["image"].shape[:2]
    objects = example["panoptic_objects"]
    objects["id"] = 1000 + np.arange(len(objects["id"]))
    segment_ids = np.zeros((height, width), np.int64)
    for segment_id, (ymin, xmin, ymax, xmax) in zip(objects["id"], objects["bbox"]):
      segment_ids[int(ymin * height):int(np.ceil(ymax * height)), int(xmin * width):int(np.ceil(xmax * width))] = (
          segment_id)
    example["panoptic_image"] = np.stack([segment_ids % 256, segment_ids // 256 % 256, segment_ids // 65536],
                                         axis=-1).astype(np.uint8)
  if "segmentation_mask" in example:
    height, width = example["image"].shape[:2]
    trimap = box_transforms.resize_nearest(np.asarray(example["segmentation_mask"]), height, width)
    example["segmentation_mask"] = (trimap % 3 + 1).astype(np.uint8)
  return example


class ConsistentSource:
  """A random-access source of repaired mock examples (what grain needs: __len__ and __getitem__)."""

  def __init__(self, source):
    self.examples = [make_consistent(source[i]) for i in range(len(source))]

  def __len__(self):
    return len(self.examples)

  def __getitem__(self, index):
    return self.examples[index]


@pytest.fixture
def mock_sources():
  """``mock_sources(name, num_examples=4) -> (raw mock source, repaired source)``."""

  def make(name, num_examples=4):
    with tfds.testing.mock_data(num_examples=num_examples, policy=MOCK_POLICY):
      raw = tfds.data_source(name, split="train")
    return raw, ConsistentSource(raw)

  return make
