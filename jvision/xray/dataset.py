"""Chest X-ray datasets as label tables, with the operations torchxrayvision users rely on.

An ``XrayDataset`` is metadata, not pixels: for each of N images a path (relative to ``image_dir``), a
patient id, a view (``"PA"``, ``"AP"``, ``"L"`` for lateral, ``""`` unknown) and a row of an ``[N, P]``
float32 label matrix over ``pathologies`` holding 1 (positive), 0 (negative), -1 (uncertain, as in
CheXpert) or NaN (this dataset does not label this pathology for this image). Operations return new
datasets: ``relabel`` (reorder onto another pathology list, NaN for the ones not labelled), ``rename``,
``subset``/``filter``/``filter_views``, ``merge`` (several datasets onto one pathology list) and
``patient_split`` (train/test with no patient on both sides). The default pathology list is
torchxrayvision's 18 (Cohen et al., "TorchXRayVision: A library of chest X-ray datasets and models",
MIDL 2022).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Optional, Sequence

import numpy as np

DEFAULT_PATHOLOGIES = (
    "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis",
    "Effusion", "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia", "Lung Lesion",
    "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum")

VIEWS = ("PA", "AP", "L", "")


@dataclasses.dataclass(frozen=True)
class XrayDataset:
  """N chest X-rays: ``labels`` float32 [N, P] over ``pathologies``; ``image_ids``, ``patient_ids``, ``views``
  and ``sources`` (the dataset each row came from) are str arrays [N]."""

  name: str
  pathologies: tuple[str, ...]
  labels: np.ndarray
  image_ids: np.ndarray
  patient_ids: np.ndarray
  views: np.ndarray
  image_dir: Optional[str] = None
  sources: Optional[np.ndarray] = None

  def __post_init__(self):
    n = len(self.image_ids)
    labels = np.asarray(self.labels, np.float32).reshape(n, len(self.pathologies))
    object.__setattr__(self, "labels", labels)
    object.__setattr__(self, "pathologies", tuple(self.pathologies))
    for field in ("image_ids", "patient_ids", "views"):
      value = np.asarray(getattr(self, field), dtype=str).reshape(-1)
      if value.shape != (n,):
        raise ValueError(f"{field} has {value.shape[0]} entries but there are {n} images")
      object.__setattr__(self, field, value)
    sources = np.full(n, self.name) if self.sources is None else np.asarray(self.sources, dtype=str)
    object.__setattr__(self, "sources", sources)
    if len(set(self.pathologies)) != len(self.pathologies):
      raise ValueError(f"duplicate pathology names in {self.pathologies}")
    known = ~np.isnan(labels)
    if not np.isin(labels[known], (-1.0, 0.0, 1.0)).all():
      raise ValueError(f"labels must be 1, 0, -1 (uncertain) or NaN; got {np.unique(labels[known])}")
    bad_views = set(self.views) - set(VIEWS)
    if bad_views:
      raise ValueError(f"unknown views {sorted(bad_views)}; known: PA, AP, L (lateral) and '' (unknown)")

  def __len__(self) -> int:
    return len(self.image_ids)

  def _replace(self, **changes) -> "XrayDataset":
    return dataclasses.replace(self, **changes)

  def subset(self, indices) -> "XrayDataset":
    """The rows ``indices`` (int array or boolean mask [N]), in that order."""
    indices = np.asarray(indices)
    if indices.dtype == bool:
      if indices.shape != (len(self),):
        raise ValueError(f"boolean mask has shape {indices.shape}; expected ({len(self)},)")
      indices = np.flatnonzero(indices)
    if indices.size and (indices.min() < -len(self) or indices.max() >= len(self)):
      raise IndexError(f"subset indices out of range for a dataset of {len(self)} images")
    return self._replace(labels=self.labels[indices], image_ids=self.image_ids[indices],
                         patient_ids=self.patient_ids[indices], views=self.views[indices],
                         sources=self.sources[indices])

  def filter(self, keep) -> "XrayDataset":
    """The rows where ``keep`` is true: a boolean mask [N] or a function of the dataset returning one."""
    return self.subset(np.asarray(keep(self) if callable(keep) else keep, dtype=bool))

  def filter_views(self, views: Sequence[str]) -> "XrayDataset":
    """The images whose view is one of ``views`` (e.g. ``("PA", "AP")`` for frontal images)."""
    views = (views,) if isinstance(views, str) else tuple(views)
    unknown = set(views) - set(VIEWS)
    if unknown:
      raise ValueError(f"unknown views {sorted(unknown)}; known: PA, AP, L (lateral) and '' (unknown)")
    return self.filter(np.isin(self.views, views))

  def filter_labelled(self, pathology: str) -> "XrayDataset":
    """The images that label ``pathology`` (value not NaN)."""
    return self.filter(~np.isnan(self.labels[:, self.pathology_index(pathology)]))

  def pathology_index(self, pathology: str) -> int:
    if pathology not in self.pathologies:
      raise KeyError(f"unknown pathology {pathology!r} in {self.name}; known: {', '.join(self.pathologies)}")
    return self.pathologies.index(pathology)

  def relabel(self, pathologies: Sequence[str] = DEFAULT_PATHOLOGIES) -> "XrayDataset":
    """Labels reordered onto ``pathologies``: columns this dataset lacks are NaN, extra ones are dropped."""
    pathologies = tuple(pathologies)
    labels = np.full((len(self), len(pathologies)), np.nan, np.float32)
    for j, pathology in enumerate(pathologies):
      if pathology in self.pathologies:
        labels[:, j] = self.labels[:, self.pathologies.index(pathology)]
    return self._replace(pathologies=pathologies, labels=labels)

  def rename(self, mapping: Mapping[str, str]) -> "XrayDataset":
    """Pathologies renamed by ``mapping`` (old name -> new name); names not in ``mapping`` are kept."""
    unknown = set(mapping) - set(self.pathologies)
    if unknown:
      raise KeyError(f"cannot rename unknown pathologies {sorted(unknown)}; known: {', '.join(self.pathologies)}")
    return self._replace(pathologies=tuple(mapping.get(p, p) for p in self.pathologies))

  def label_statistics(self) -> dict[str, dict[str, int]]:
    """Per pathology: counts of ``positive``, ``negative``, ``uncertain`` and ``unlabelled`` images."""
    stats = {}
    for j, pathology in enumerate(self.pathologies):
      column = self.labels[:, j]
      stats[pathology] = {"positive": int((column == 1).sum()), "negative": int((column == 0).sum()),
                          "uncertain": int((column == -1).sum()), "unlabelled": int(np.isnan(column).sum())}
    return stats

  def format_statistics(self) -> str:
    """``label_statistics`` as a text table, with image/patient/view counts on the first line."""
    views = {v or "?": int((self.views == v).sum()) for v in VIEWS if (self.views == v).any()}
    lines = [f"{self.name}: {len(self)} images, {len(np.unique(self.patient_ids))} patients, views {views}",
             f"{'pathology':<28}{'pos':>8}{'neg':>8}{'unc':>8}{'nan':>8}"]
    for pathology, s in self.label_statistics().items():
      lines.append(f"{pathology:<28}{s['positive']:>8}{s['negative']:>8}{s['uncertain']:>8}{s['unlabelled']:>8}")
    return "\n".join(lines)

  def image_path(self, index: int) -> str:
    if self.image_dir is None:
      raise ValueError(f"{self.name} has no image_dir: pass image_dir to the reader or to with_images()")
    return os.path.join(self.image_dir, self.image_ids[index])

  def with_images(self, image_dir: Optional[str] = None, drop_missing: bool = True) -> "XrayDataset":
    """Pairs the labels with image files under ``image_dir``; rows without a file are dropped (or, with
    ``drop_missing=False``, a FileNotFoundError names the first missing file)."""
    dataset = self._replace(image_dir=image_dir or self.image_dir)
    exists = np.array([os.path.isfile(dataset.image_path(i)) for i in range(len(dataset))], dtype=bool)
    if not drop_missing and not exists.all():
      raise FileNotFoundError(f"{(~exists).sum()} of {len(exists)} images are missing, e.g. "
                              f"{dataset.image_path(int(np.flatnonzero(~exists)[0]))}")
    return dataset.filter(exists)

  def load_image(self, index: int) -> np.ndarray:
    """The image as stored (uint8 or uint16) [H, W]; colour images are reduced to their first channel."""
    from PIL import Image

    path = self.image_path(index)
    if path.lower().endswith(".dcm"):
      raise ValueError(f"{path}: DICOM is not read here; convert to PNG (16-bit keeps the range) first")
    with Image.open(path) as image:
      array = np.asarray(image)
    return array[..., 0] if array.ndim == 3 else array


def merge(datasets: Sequence[XrayDataset], pathologies: Optional[Sequence[str]] = None,
          name: str = "merged") -> XrayDataset:
  """Concatenates ``datasets`` relabelled onto ``pathologies`` (default: the union, in first-seen order).

  Image ids become relative to a common root only if all ``image_dir`` agree; otherwise they are made
  absolute. Patient ids stay as they are; ``patient_split`` keeps them apart per source dataset.
  """
  if not datasets:
    raise ValueError("merge needs at least one dataset")
  if pathologies is None:
    pathologies = list(dict.fromkeys(p for d in datasets for p in d.pathologies))
  dirs = {d.image_dir for d in datasets}
  same_dir = len(dirs) == 1
  relabelled = [d.relabel(pathologies) for d in datasets]

  def ids(d):
    if same_dir or d.image_dir is None:
      return d.image_ids
    return np.array([os.path.join(d.image_dir, i) for i in d.image_ids], dtype=str)

  return XrayDataset(
      name=name, pathologies=tuple(pathologies),
      labels=np.concatenate([d.labels for d in relabelled]).reshape(-1, len(pathologies)),
      image_ids=np.concatenate([ids(d) for d in datasets]),
      patient_ids=np.concatenate([d.patient_ids for d in datasets]),
      views=np.concatenate([d.views for d in datasets]),
      sources=np.concatenate([d.sources for d in datasets]),
      image_dir=dirs.pop() if same_dir else ("/" if all(d.image_dir for d in datasets) else None))


def patient_split(dataset: XrayDataset, test_fraction: float = 0.2,
                  seed: int = 0) -> tuple[XrayDataset, XrayDataset]:
  """Random train/test split by patient: every image of a patient (within a source) is on one side.

  About ``test_fraction`` of the patients (rounded, at least one when there are two or more) go to test.
  """
  if not 0.0 < test_fraction < 1.0:
    raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
  keys = np.char.add(np.char.add(dataset.sources, "/"), dataset.patient_ids)
  patients, inverse = np.unique(keys, return_inverse=True)
  num_test = int(round(test_fraction * len(patients)))
  num_test = min(max(num_test, 1 if len(patients) > 1 else 0), len(patients) - 1 if len(patients) > 1 else 0)
  order = np.random.default_rng(seed).permutation(len(patients))
  is_test_patient = np.zeros(len(patients), bool)
  is_test_patient[order[:num_test]] = True
  is_test = is_test_patient[inverse]
  return dataset.filter(~is_test), dataset.filter(is_test)
