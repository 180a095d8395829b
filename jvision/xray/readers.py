"""Readers for the chest X-ray layouts users download, mapped onto torchxrayvision's 18 pathologies.

Each ``read_*`` parses the dataset's own label CSV(s) (plain or ``.gz``/``.zip``, as shipped by the datasets
and by the ``torchxrayvision`` package) into an ``XrayDataset`` over ``DEFAULT_PATHOLOGIES``; pathologies
the dataset does not label are NaN. With ``image_dir`` the rows are paired with the image files found there
(rows without a file are dropped). ``views`` keeps only those views. The per-dataset name maps below are
this module's; they follow the label definitions published with each dataset:

- NIH ChestX-ray14 (Wang et al. 2017): ``Data_Entry_2017*.csv``, "Finding Labels" joined by ``|``; the 14
  findings are labelled for every image (absent = 0). Images: ``image_dir/<Image Index>``.
- CheXpert (Irvin et al. 2019): ``train.csv``/``valid.csv`` with 1/0/-1 (uncertain)/blank (NaN); paths
  ``CheXpert-v1.0-small/train/patientX/studyY/viewZ.jpg`` are read relative to the folder holding
  ``train/`` (the first component is dropped).
- MIMIC-CXR-JPG (Johnson et al. 2019): ``mimic-cxr-2.0.0-chexpert.csv`` (CheXpert labeller, per study)
  joined with ``mimic-cxr-2.0.0-metadata.csv`` (per image); images ``files/pXX/pSUBJECT/sSTUDY/DICOM.jpg``.
- PadChest (Bustos et al. 2020): the "Labels" list of findings; every mapped pathology is labelled
  (absent = 0); rows whose label list is missing are NaN. Images: ``image_dir/<ImageID>``.
- RSNA pneumonia (Kaggle 2018): ``stage_2_train_labels.csv`` (one row per box); Target 1 labels both
  Pneumonia and Lung Opacity; views from the optional DICOM-header CSV. Images ``<patientId><extension>``.
- VinBigData (Nguyen et al. 2022): ``train.csv`` with one row per radiologist finding; a finding is positive
  if any radiologist marked it. "Nodule/Mass" does not say which, so it labels Lung Lesion and leaves Nodule
  and Mass NaN; "Aortic enlargement", "Calcification", "ILD" and "Other lesion" have no counterpart.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import os
import zipfile
from typing import Iterator, Optional, Sequence

import numpy as np

from jvision.xray.dataset import DEFAULT_PATHOLOGIES, XrayDataset

NIH_FINDINGS = {  # NIH finding name -> default pathology (identity except the spelling of the keys).
    name: name for name in ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
                            "Pneumonia", "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis",
                            "Pleural_Thickening", "Hernia")}

CHEXPERT_COLUMNS = {  # CheXpert / MIMIC-CXR column -> default pathology.
    "Enlarged Cardiomediastinum": "Enlarged Cardiomediastinum", "Cardiomegaly": "Cardiomegaly",
    "Lung Opacity": "Lung Opacity", "Lung Lesion": "Lung Lesion", "Edema": "Edema",
    "Consolidation": "Consolidation", "Pneumonia": "Pneumonia", "Atelectasis": "Atelectasis",
    "Pneumothorax": "Pneumothorax", "Pleural Effusion": "Effusion", "Fracture": "Fracture"}

PADCHEST_FINDINGS = {  # default pathology -> PadChest finding names that imply it.
    "Atelectasis": ("atelectasis", "laminar atelectasis", "lobar atelectasis", "segmental atelectasis",
                    "total atelectasis", "round atelectasis", "atelectasis basal"),
    "Consolidation": ("consolidation",),
    "Infiltration": ("infiltrates", "interstitial pattern", "reticular interstitial pattern",
                     "reticulonodular interstitial pattern", "alveolar pattern", "ground glass pattern"),
    "Pneumothorax": ("pneumothorax", "hydropneumothorax"),
    "Edema": ("pulmonary edema",),
    "Emphysema": ("emphysema",),
    "Fibrosis": ("pulmonary fibrosis",),
    "Effusion": ("pleural effusion", "loculated pleural effusion"),
    "Pneumonia": ("pneumonia", "atypical pneumonia"),
    "Pleural_Thickening": ("pleural thickening", "apical pleural thickening", "calcified pleural thickening"),
    "Cardiomegaly": ("cardiomegaly",),
    "Nodule": ("nodule", "multiple nodules"),
    "Mass": ("mass", "pulmonary mass"),
    "Hernia": ("hiatal hernia",),
    "Fracture": ("fracture", "rib fracture", "callus rib fracture", "vertebral fracture", "clavicle fracture",
                 "humeral fracture"),
}

VINBIGDATA_FINDINGS = {  # VinBigData class name -> default pathology.
    "Atelectasis": "Atelectasis", "Cardiomegaly": "Cardiomegaly", "Consolidation": "Consolidation",
    "Infiltration": "Infiltration", "Lung Opacity": "Lung Opacity", "Nodule/Mass": "Lung Lesion",
    "Pleural effusion": "Effusion", "Pleural thickening": "Pleural_Thickening", "Pneumothorax": "Pneumothorax",
    "Pulmonary fibrosis": "Fibrosis"}

_VIEW_NAMES = {"PA": "PA", "POSTEROANTERIOR": "PA", "AP": "AP", "AP_HORIZONTAL": "AP", "ANTEROPOSTERIOR": "AP",
               "L": "L", "LL": "L", "LATERAL": "L", "RL": "L", "LEFT LATERAL": "L"}


def normalize_view(value: str) -> str:
  """A dataset's view string as ``"PA"``, ``"AP"``, ``"L"`` or ``""`` (anything else, e.g. COSTAL)."""
  return _VIEW_NAMES.get((value or "").strip().upper(), "")


def read_csv_rows(path: str, max_rows: Optional[int] = None) -> Iterator[dict[str, str]]:
  """Rows of a CSV (plain, ``.gz``, or the single CSV inside a ``.zip``) as dicts of strings."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"label CSV not found: {path}")
  if path.endswith(".zip"):
    with zipfile.ZipFile(path) as archive:
      names = [n for n in archive.namelist() if n.endswith(".csv")]
      if len(names) != 1:
        raise ValueError(f"{path}: expected one CSV inside, found {names}")
      text = io.TextIOWrapper(archive.open(names[0]), encoding="utf-8", newline="")
      yield from _limited(csv.DictReader(text), max_rows)
    return
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rt", encoding="utf-8", newline="") as text:
    yield from _limited(csv.DictReader(text), max_rows)


def _limited(rows, max_rows):
  for i, row in enumerate(rows):
    if max_rows is not None and i >= max_rows:
      return
    yield row


def _require(row: dict, columns: Sequence[str], path: str) -> None:
  missing = [c for c in columns if c not in row]
  if missing:
    raise ValueError(f"{path}: missing columns {missing}; is this the right file for this reader?")


def _finish(name, labels, image_ids, patient_ids, views, image_dir, keep_views) -> XrayDataset:
  dataset = XrayDataset(name=name, pathologies=DEFAULT_PATHOLOGIES,
                        labels=np.asarray(labels, np.float32).reshape(-1, len(DEFAULT_PATHOLOGIES)),
                        image_ids=np.asarray(image_ids, dtype=str), patient_ids=np.asarray(patient_ids, dtype=str),
                        views=np.asarray(views, dtype=str), image_dir=image_dir)
  if keep_views is not None:
    dataset = dataset.filter_views(keep_views)
  if image_dir is not None:
    dataset = dataset.with_images(image_dir)
  return dataset


def _row(pathologies_to_value: dict[str, float], default: float = np.nan) -> list[float]:
  return [pathologies_to_value.get(p, default) for p in DEFAULT_PATHOLOGIES]


def read_nih(csv_path: str, image_dir: Optional[str] = None, views: Optional[Sequence[str]] = None,
             max_rows: Optional[int] = None) -> XrayDataset:
  """NIH ChestX-ray14 from ``Data_Entry_2017*.csv``."""
  labels, image_ids, patients, view_list = [], [], [], []
  for row in read_csv_rows(csv_path, max_rows):
    _require(row, ("Image Index", "Finding Labels", "Patient ID", "View Position"), csv_path)
    findings = {f.strip() for f in row["Finding Labels"].split("|")} - {"No Finding", ""}
    unknown = findings - set(NIH_FINDINGS)
    if unknown:
      raise ValueError(f"{csv_path}: unknown NIH findings {sorted(unknown)} in row {row['Image Index']}")
    values = {p: 0.0 for p in NIH_FINDINGS.values()}
    values.update({NIH_FINDINGS[f]: 1.0 for f in findings})
    labels.append(_row(values))
    image_ids.append(row["Image Index"])
    patients.append(row["Patient ID"])
    view_list.append(normalize_view(row["View Position"]))
  return _finish("nih", labels, image_ids, patients, view_list, image_dir, views)


def _chexpert_values(row: dict, path: str) -> list[float]:
  values = {}
  for column, pathology in CHEXPERT_COLUMNS.items():
    text = row[column].strip()
    if text:
      value = float(text)
      if value not in (-1.0, 0.0, 1.0):
        raise ValueError(f"{path}: {column} = {text!r}; CheXpert labels are 1, 0, -1 or blank")
      values[pathology] = value
  return _row(values)


def read_chexpert(csv_path: str, image_dir: Optional[str] = None, views: Optional[Sequence[str]] = None,
                  max_rows: Optional[int] = None) -> XrayDataset:
  """CheXpert from ``train.csv``/``valid.csv`` (-1 uncertain and blank NaN are kept as such)."""
  labels, image_ids, patients, view_list = [], [], [], []
  for row in read_csv_rows(csv_path, max_rows):
    _require(row, ("Path", "Frontal/Lateral", "AP/PA", *CHEXPERT_COLUMNS), csv_path)
    parts = row["Path"].replace("\\", "/").split("/")
    patient = next((p for p in parts if p.startswith("patient")), None)
    if patient is None:
      raise ValueError(f"{csv_path}: no patientNNNNN folder in path {row['Path']!r}")
    labels.append(_chexpert_values(row, csv_path))
    image_ids.append("/".join(parts[1:]))
    patients.append(patient)
    view_list.append("L" if row["Frontal/Lateral"] == "Lateral" else normalize_view(row["AP/PA"]))
  return _finish("chexpert", labels, image_ids, patients, view_list, image_dir, views)


def read_mimic(chexpert_csv: str, metadata_csv: str, image_dir: Optional[str] = None,
               views: Optional[Sequence[str]] = None, max_rows: Optional[int] = None) -> XrayDataset:
  """MIMIC-CXR-JPG: per-study CheXpert labels joined with per-image metadata (images without labels are
  dropped)."""
  study_labels = {}
  for row in read_csv_rows(chexpert_csv):
    _require(row, ("subject_id", "study_id", *CHEXPERT_COLUMNS), chexpert_csv)
    study_labels[(row["subject_id"], row["study_id"])] = _chexpert_values(row, chexpert_csv)
  labels, image_ids, patients, view_list = [], [], [], []
  for row in read_csv_rows(metadata_csv, max_rows):
    _require(row, ("dicom_id", "subject_id", "study_id", "ViewPosition"), metadata_csv)
    key = (row["subject_id"], row["study_id"])
    if key not in study_labels:
      continue
    subject = row["subject_id"]
    labels.append(study_labels[key])
    image_ids.append(f"files/p{subject[:2]}/p{subject}/s{row['study_id']}/{row['dicom_id']}.jpg")
    patients.append(subject)
    view_list.append(normalize_view(row["ViewPosition"]))
  return _finish("mimic_cxr", labels, image_ids, patients, view_list, image_dir, views)


def read_padchest(csv_path: str, image_dir: Optional[str] = None, views: Optional[Sequence[str]] = None,
                  max_rows: Optional[int] = None) -> XrayDataset:
  """PadChest from ``PADCHEST_chest_x_ray_images_labels_160K*.csv``."""
  finding_to_pathology = {f: p for p, findings in PADCHEST_FINDINGS.items() for f in findings}
  labels, image_ids, patients, view_list = [], [], [], []
  for row in read_csv_rows(csv_path, max_rows):
    _require(row, ("ImageID", "PatientID", "Projection", "Labels"), csv_path)
    try:
      findings = {str(f).strip().lower() for f in ast.literal_eval(row["Labels"])}
    except (ValueError, SyntaxError):
      findings = None  # Missing or malformed label list: nothing is known about this image.
    if findings is None:
      labels.append(_row({}))
    else:
      values = {p: 0.0 for p in PADCHEST_FINDINGS}
      values.update({finding_to_pathology[f]: 1.0 for f in findings if f in finding_to_pathology})
      labels.append(_row(values))
    image_ids.append(row["ImageID"])
    patients.append(row["PatientID"])
    view_list.append(normalize_view(row["Projection"]))
  return _finish("padchest", labels, image_ids, patients, view_list, image_dir, views)


def read_rsna(labels_csv: str, image_dir: Optional[str] = None, views: Optional[Sequence[str]] = None,
              headers_csv: Optional[str] = None, extension: str = ".dcm",
              max_rows: Optional[int] = None) -> XrayDataset:
  """RSNA pneumonia from ``stage_2_train_labels.csv`` (one image per patientId; boxes are not kept).

  ``headers_csv`` (a CSV with ``PatientID``/``ViewPosition`` columns, e.g. the DICOM headers table that
  torchxrayvision ships) supplies views; without it views are unknown. ``extension`` names the image files.
  """
  target = {}
  for row in read_csv_rows(labels_csv, max_rows):
    _require(row, ("patientId", "Target"), labels_csv)
    if row["Target"] not in ("0", "1"):
      raise ValueError(f"{labels_csv}: Target = {row['Target']!r} for {row['patientId']}; expected 0 or 1")
    target[row["patientId"]] = max(target.get(row["patientId"], 0.0), float(row["Target"]))
  view_of = {}
  if headers_csv is not None:
    for row in read_csv_rows(headers_csv):
      _require(row, ("PatientID", "ViewPosition"), headers_csv)
      view_of[row["PatientID"]] = normalize_view(row["ViewPosition"])
  ids = list(target)
  labels = [_row({"Pneumonia": target[i], "Lung Opacity": target[i]}) for i in ids]
  return _finish("rsna_pneumonia", labels, [i + extension for i in ids], ids, [view_of.get(i, "") for i in ids],
                 image_dir, views)


def read_vinbigdata(csv_path: str, image_dir: Optional[str] = None, views: Optional[Sequence[str]] = None,
                    extension: str = ".png", max_rows: Optional[int] = None) -> XrayDataset:
  """VinBigData from ``train.csv`` (findings of all radiologists combined; all images are frontal PA)."""
  positives: dict[str, set] = {}
  for row in read_csv_rows(csv_path, max_rows):
    _require(row, ("image_id", "class_name"), csv_path)
    findings = positives.setdefault(row["image_id"], set())
    if row["class_name"] in VINBIGDATA_FINDINGS:
      findings.add(VINBIGDATA_FINDINGS[row["class_name"]])
  ids = list(positives)
  labels = []
  for i in ids:
    values = {p: 0.0 for p in VINBIGDATA_FINDINGS.values()}
    values.update({p: 1.0 for p in positives[i]})
    labels.append(_row(values))
  return _finish("vinbigdata", labels, [i + extension for i in ids], ids, ["PA"] * len(ids), image_dir, views)


def torchxrayvision_csv(filename: str) -> Optional[str]:
  """Path of a label CSV shipped in the installed ``torchxrayvision`` package (found without importing it,
  which would need torch), or None when the package or the file is absent."""
  import importlib.util

  spec = importlib.util.find_spec("torchxrayvision")
  if spec is None or spec.origin is None:
    return None
  path = os.path.join(os.path.dirname(spec.origin), "data", filename)
  return path if os.path.isfile(path) else None
