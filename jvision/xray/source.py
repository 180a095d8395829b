"""Chest X-ray datasets on the user's disk as random-access sources for the trainer.

``config.data.name = "chexpert"`` with ``config.data.data_dir`` = the folder that holds ``train.csv``,
``valid.csv`` and the ``train/``, ``valid/`` image folders (``CheXpert-v1.0-small`` or ``CheXpert-v1.0``):
``data_source(name, split, data_dir)`` reads the split's CSV (``jvision.xray.readers.read_chexpert``), keeps
the frontal images (PA and AP, the CheXpert models' setting; ``chexpert/all_views`` keeps laterals too),
drops rows whose image file is missing, and returns an ``XraySource`` whose examples are ``image`` (as stored,
uint8 or uint16, ``[H, W, 1]``) and ``labels`` (float32 over ``CHEXPERT_COMPETITION``: 1, 0, -1 uncertain,
NaN blank). Splits are ``train`` and ``valid``, optionally sliced like TFDS splits (``train[:1000]``).
The multi-label task center-crops and resizes each image, so images of any size batch together.
"""

from __future__ import annotations

import os
import re
from typing import Optional

import numpy as np

from jvision.xray import readers
from jvision.xray.dataset import XrayDataset

# The five pathologies of the CheXpert competition (Irvin et al., AAAI 2019), in torchxrayvision's names.
CHEXPERT_COMPETITION = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion")
FRONTAL_VIEWS = ("PA", "AP")
_SPLIT = re.compile(r"^(train|valid)(?:\[(-?\d*):(-?\d*)\])?$")


class XraySource:
  """Random access to an ``XrayDataset`` with images: ``source[i]`` -> ``{"image", "labels"}``."""

  def __init__(self, dataset: XrayDataset):
    if dataset.image_dir is None:
      raise ValueError(f"{dataset.name}: the dataset has no image_dir, so there are no images to read")
    self.dataset = dataset

  def __len__(self) -> int:
    return len(self.dataset)

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    image = self.dataset.load_image(int(index))
    return {"image": image[..., None], "labels": self.dataset.labels[int(index)]}

  def __repr__(self) -> str:
    return f"XraySource({self.dataset.name!r}, {len(self)} images, {self.dataset.image_dir!r})"


def chexpert_source(name: str, split: str, data_dir: Optional[str]) -> XraySource:
  """The ``chexpert`` (frontal views) or ``chexpert/all_views`` source of ``split`` under ``data_dir``."""
  variant = name.partition("/")[2]
  if variant not in ("", "all_views"):
    raise ValueError(f"unknown CheXpert variant {name!r}; known: chexpert, chexpert/all_views")
  match = _SPLIT.match(split.replace(" ", ""))
  if match is None:
    raise ValueError(f"CheXpert split {split!r}: use train or valid, optionally sliced (train[:1000])")
  if not data_dir:
    raise ValueError("CheXpert needs config.data.data_dir: the folder with train.csv, valid.csv, train/, valid/")
  csv_path = os.path.join(data_dir, f"{match.group(1)}.csv")
  if not os.path.isfile(csv_path):
    raise FileNotFoundError(f"no {csv_path}: config.data.data_dir must be the CheXpert folder (e.g. "
                            f"CheXpert-v1.0-small) that holds train.csv and valid.csv")
  views = None if variant == "all_views" else FRONTAL_VIEWS
  dataset = readers.read_chexpert(csv_path, image_dir=data_dir, views=views)
  if not len(dataset):
    raise FileNotFoundError(f"{csv_path}: none of its images was found under {data_dir}")
  dataset = dataset.relabel(CHEXPERT_COMPETITION)
  start, stop = (int(v) if v else None for v in (match.group(2), match.group(3)))
  if start is not None or stop is not None:
    selected = np.arange(len(dataset))[slice(start, stop)]
    if not len(selected):
      raise ValueError(f"CheXpert split {split!r} selects none of the {len(dataset)} images of "
                       f"{match.group(1)}.csv found under {data_dir}")
    dataset = dataset.subset(selected)
  return XraySource(dataset)
