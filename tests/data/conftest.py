"""Fixtures for the data tests: one tiny shapes build (64 px, a few dozen examples) per test session."""

import pytest

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
