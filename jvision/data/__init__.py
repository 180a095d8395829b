"""Datasets: embedded TFDS builders (built locally from code, no download), standard TFDS datasets, and
datasets read from the user's files (``FILE_SOURCES``: CheXpert).

``data_source(name, split)`` returns a random-access ``tfds.data_source`` over ``name`` (e.g. ``"digits"``,
``"shapes/multi"``, ``"cifar10"``). Embedded datasets are built on first use into ``data_dir`` (default:
``$TFDS_DATA_DIR`` or TFDS's own default) in the ``array_record`` format that random access needs.
"""

from __future__ import annotations

import os
from typing import Optional

import tensorflow_datasets as tfds

from jvision import registry

# Embedded datasets: TFDS name -> "module:BuilderClass". The builder class is imported (which registers it
# with TFDS) only when the dataset is asked for.
EMBEDDED_BUILDERS = {
    "digits": "jvision.data.digits:Digits",
    "shapes": "jvision.data.shapes:Shapes",
    "lfw_faces": "jvision.data.lfw_faces:LfwFaces",
    "printed_digits": "jvision.data.printed_digits:PrintedDigits",
    "xray_synthetic": "jvision.data.xray_synthetic:XraySynthetic",
}

# Datasets read straight from the user's folder (no TFDS build): name -> "module:function(name, split,
# data_dir)" returning a random-access source.
FILE_SOURCES = {
    "chexpert": "jvision.xray.source:chexpert_source",
}


def _split_name(name: str) -> tuple[str, Optional[str]]:
  base, _, builder_config = name.partition("/")
  return base, (builder_config or None)


def get_builder(name: str, data_dir: Optional[str] = None) -> tfds.core.DatasetBuilder:
  """Returns the TFDS builder for ``name`` ("dataset" or "dataset/config"), importing embedded ones."""
  base, _ = _split_name(name)
  if base in EMBEDDED_BUILDERS:
    registry.lookup("dataset", EMBEDDED_BUILDERS, base)  # Defining the class registers it with TFDS.
  data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")
  return tfds.builder(name, data_dir=data_dir, file_format="array_record")


def prepare(name: str, data_dir: Optional[str] = None) -> None:
  """Builds an embedded dataset if it is not built yet (standard datasets are left alone)."""
  if _split_name(name)[0] in EMBEDDED_BUILDERS:
    get_builder(name, data_dir).download_and_prepare(file_format="array_record")


def data_source(name: str, split: str, data_dir: Optional[str] = None):
  """Random-access source of decoded examples (dicts of numpy arrays) for ``name``/``split``.

  Embedded datasets are prepared on first use. Standard datasets (``cifar10``, ``voc``, ...) must already be
  prepared in ``data_dir`` in the ``array_record`` format (under ``tfds.testing.mock_data`` they are mocked);
  a clear error says so otherwise. ``FILE_SOURCES`` datasets are read from ``data_dir`` as they are.
  """
  base, _ = _split_name(name)
  if base in FILE_SOURCES:
    return registry.lookup("dataset", FILE_SOURCES, base)(name, split, data_dir)
  prepare(name, data_dir)
  builder = get_builder(name, data_dir)
  try:
    return builder.as_data_source(split=split)
  except KeyError as e:
    raise FileNotFoundError(
        f"dataset {name!r} split {split!r} is not prepared in {builder.data_dir!r} ({e}); prepare it once "
        f"with `tfds build {name} --file_format=array_record` (set TFDS_DATA_DIR or config.data.data_dir)"
    ) from None
