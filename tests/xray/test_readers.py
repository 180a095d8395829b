"""Readers on small generated folders in each layout, and on torchxrayvision's real CSVs when installed."""

import os

import numpy as np
import pytest
from PIL import Image

from jvision.xray import readers
from jvision.xray.dataset import DEFAULT_PATHOLOGIES
from xray_layouts import CHEXPERT_HEADER, chexpert_row, write_csv

NAN = np.nan
P = DEFAULT_PATHOLOGIES.index


def write_image(path, seed, dtype=np.uint8):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pixels = np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, (12, 10)).astype(dtype)
  Image.fromarray(pixels).save(path)
  return pixels


def expected_row(values):
  row = np.full(len(DEFAULT_PATHOLOGIES), NAN, np.float32)
  for name, value in values.items():
    row[P(name)] = value
  return row


def test_nih_labels_views_and_images(tmp_path):
  csv_path = write_csv(str(tmp_path / "Data_Entry_2017.csv.gz"),
                       ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "View Position"],
                       [["a.png", "No Finding", 0, 1, "PA"], ["b.png", "Effusion|Hernia", 1, 1, "AP"],
                        ["c.png", "Nodule", 0, 2, "PA"]])
  pixels = write_image(str(tmp_path / "images" / "a.png"), 0)
  write_image(str(tmp_path / "images" / "c.png"), 1)
  dataset = readers.read_nih(csv_path)
  nih_zero = {name: 0.0 for name in readers.NIH_FINDINGS}
  np.testing.assert_array_equal(dataset.labels[0], expected_row(nih_zero))
  np.testing.assert_array_equal(dataset.labels[1], expected_row({**nih_zero, "Effusion": 1, "Hernia": 1}))
  np.testing.assert_array_equal(dataset.views, ["PA", "AP", "PA"])
  assert dataset.label_statistics()["Nodule"] == {"positive": 1, "negative": 2, "uncertain": 0, "unlabelled": 0}
  assert dataset.label_statistics()["Fracture"]["unlabelled"] == 3
  paired = readers.read_nih(csv_path, image_dir=str(tmp_path / "images"))
  np.testing.assert_array_equal(paired.image_ids, ["a.png", "c.png"])  # b.png has no file.
  np.testing.assert_array_equal(paired.load_image(0), pixels)
  assert len(readers.read_nih(csv_path, views=["AP"])) == 1


def test_nih_unknown_finding_is_an_error(tmp_path):
  csv_path = write_csv(str(tmp_path / "d.csv"), ["Image Index", "Finding Labels", "Patient ID", "View Position"],
                       [["a.png", "Efusion", 1, "PA"]])
  with pytest.raises(ValueError, match="unknown NIH findings.*Efusion"):
    readers.read_nih(csv_path)


def test_chexpert_uncertain_blank_lateral_and_images(tmp_path):
  root = tmp_path / "CheXpert-v1.0-small"
  csv_path = write_csv(str(root / "train.csv"), CHEXPERT_HEADER, [
      chexpert_row("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg", "Frontal", "AP", "1.0", "-1.0", ""),
      chexpert_row("CheXpert-v1.0-small/train/patient00001/study1/view2_lateral.jpg", "Lateral", "", "0.0", "", "1.0"),
      chexpert_row("CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg", "Frontal", "PA", "", "0.0", "-1.0"),
  ])
  write_image(str(root / "train/patient00002/study1/view1_frontal.png"), 0)  # Wrong extension: not paired.
  write_image(str(root / "train/patient00001/study1/view2_lateral.jpg"), 1)
  dataset = readers.read_chexpert(csv_path)
  np.testing.assert_array_equal(dataset.labels[0], expected_row({"Cardiomegaly": 1, "Effusion": -1}))
  np.testing.assert_array_equal(dataset.labels[1], expected_row({"Cardiomegaly": 0, "Edema": 1}))
  np.testing.assert_array_equal(dataset.labels[2], expected_row({"Effusion": 0, "Edema": -1}))
  np.testing.assert_array_equal(dataset.patient_ids, ["patient00001", "patient00001", "patient00002"])
  np.testing.assert_array_equal(dataset.views, ["AP", "L", "PA"])
  assert dataset.label_statistics()["Edema"] == {"positive": 1, "negative": 0, "uncertain": 1, "unlabelled": 1}
  np.testing.assert_array_equal(readers.read_chexpert(csv_path, views=["PA", "AP"]).views, ["AP", "PA"])
  paired = readers.read_chexpert(csv_path, image_dir=str(root))
  np.testing.assert_array_equal(paired.image_ids, ["train/patient00001/study1/view2_lateral.jpg"])


def test_chexpert_bad_value_is_an_error(tmp_path):
  csv_path = write_csv(str(tmp_path / "train.csv"), CHEXPERT_HEADER, [
      chexpert_row("C/train/patient1/study1/view1_frontal.jpg", "Frontal", "AP", "2.0", "", "")])
  with pytest.raises(ValueError, match="Cardiomegaly = '2.0'"):
    readers.read_chexpert(csv_path)


def test_mimic_joins_studies_and_images(tmp_path):
  label_columns = list(readers.CHEXPERT_COLUMNS)
  labels = dict.fromkeys(label_columns, "")
  study_a = {**labels, "Pneumothorax": "1.0", "Fracture": "-1.0"}
  chexpert_csv = write_csv(str(tmp_path / "mimic-cxr-2.0.0-chexpert.csv.gz"), ["subject_id", "study_id", *label_columns],
                           [["10000032", "50414267", *[study_a[c] for c in label_columns]]])
  metadata_csv = write_csv(str(tmp_path / "mimic-cxr-2.0.0-metadata.csv.gz"),
                           ["dicom_id", "subject_id", "study_id", "ViewPosition"],
                           [["d1", "10000032", "50414267", "PA"], ["d2", "10000032", "50414267", "LATERAL"],
                            ["d3", "10000099", "59999999", "AP"]])  # d3's study has no labels.
  write_image(str(tmp_path / "files/p10/p10000032/s50414267/d2.jpg"), 0)
  dataset = readers.read_mimic(chexpert_csv, metadata_csv)
  np.testing.assert_array_equal(dataset.image_ids, ["files/p10/p10000032/s50414267/d1.jpg",
                                                    "files/p10/p10000032/s50414267/d2.jpg"])
  np.testing.assert_array_equal(dataset.views, ["PA", "L"])
  np.testing.assert_array_equal(dataset.labels[1], expected_row({"Pneumothorax": 1, "Fracture": -1}))
  assert len(readers.read_mimic(chexpert_csv, metadata_csv, image_dir=str(tmp_path))) == 1


def test_padchest_findings_projection_and_missing_labels(tmp_path):
  csv_path = write_csv(str(tmp_path / "PADCHEST.csv"), ["ImageID", "PatientID", "Projection", "Labels"], [
      ["i1.png", "p1", "PA", "['normal']"], ["i2.png", "p1", "AP_horizontal", "['cardiomegaly', ' rib fracture', 'kyphosis']"],
      ["i3.png", "p2", "L", ""], ["i4.png", "p3", "COSTAL", "['pulmonary mass', 'loculated pleural effusion']"]])
  dataset = readers.read_padchest(csv_path)
  negative = {name: 0.0 for name in readers.PADCHEST_FINDINGS}
  np.testing.assert_array_equal(dataset.labels[0], expected_row(negative))
  np.testing.assert_array_equal(dataset.labels[1], expected_row({**negative, "Cardiomegaly": 1, "Fracture": 1}))
  np.testing.assert_array_equal(dataset.labels[2], expected_row({}))
  np.testing.assert_array_equal(dataset.labels[3], expected_row({**negative, "Mass": 1, "Effusion": 1}))
  np.testing.assert_array_equal(dataset.views, ["PA", "AP", "L", ""])


def test_rsna_boxes_combined_per_patient_with_header_views(tmp_path):
  labels_csv = write_csv(str(tmp_path / "stage_2_train_labels.csv"), ["patientId", "x", "y", "width", "height", "Target"],
                         [["a", "", "", "", "", "0"], ["b", 1, 2, 3, 4, "1"], ["b", 5, 6, 7, 8, "1"]])
  headers_csv = write_csv(str(tmp_path / "headers.csv.gz"), ["PatientID", "ViewPosition"], [["a", "AP"], ["b", "PA"]])
  write_image(str(tmp_path / "img" / "b.png"), 0)
  dataset = readers.read_rsna(labels_csv, headers_csv=headers_csv)
  np.testing.assert_array_equal(dataset.image_ids, ["a.dcm", "b.dcm"])
  np.testing.assert_array_equal(dataset.labels[:, [P("Pneumonia"), P("Lung Opacity")]], [[0, 0], [1, 1]])
  assert np.isnan(dataset.labels[:, P("Effusion")]).all()
  np.testing.assert_array_equal(dataset.views, ["AP", "PA"])
  paired = readers.read_rsna(labels_csv, image_dir=str(tmp_path / "img"), extension=".png", views=["PA"],
                             headers_csv=headers_csv)
  np.testing.assert_array_equal(paired.patient_ids, ["b"])
  (tmp_path / "img" / "b.dcm").write_bytes(b"DICM")
  with pytest.raises(ValueError, match="DICOM"):
    readers.read_rsna(labels_csv, image_dir=str(tmp_path / "img")).load_image(0)


def test_vinbigdata_any_radiologist_positive(tmp_path):
  csv_path = write_csv(str(tmp_path / "train.csv"), ["image_id", "class_name", "class_id", "rad_id"], [
      ["x", "No finding", 14, "R1"], ["x", "Cardiomegaly", 3, "R2"], ["x", "Nodule/Mass", 8, "R3"],
      ["y", "No finding", 14, "R1"], ["y", "Aortic enlargement", 0, "R2"]])
  dataset = readers.read_vinbigdata(csv_path)
  negative = {name: 0.0 for name in readers.VINBIGDATA_FINDINGS.values()}
  np.testing.assert_array_equal(dataset.labels[0], expected_row({**negative, "Cardiomegaly": 1, "Lung Lesion": 1}))
  np.testing.assert_array_equal(dataset.labels[1], expected_row(negative))
  assert np.isnan(dataset.labels[:, [P("Nodule"), P("Mass")]]).all()


def test_missing_column_and_missing_file_errors(tmp_path):
  csv_path = write_csv(str(tmp_path / "x.csv"), ["Image Index"], [["a.png"]])
  with pytest.raises(ValueError, match="missing columns"):
    readers.read_nih(csv_path)
  with pytest.raises(FileNotFoundError, match="label CSV not found"):
    readers.read_nih(str(tmp_path / "nope.csv"))


needs_xrv = pytest.mark.skipif(readers.torchxrayvision_csv("Data_Entry_2017_v2020.csv.gz") is None,
                               reason="torchxrayvision's label CSVs are not installed")


@needs_xrv
def test_real_nih_csv_matches_published_counts():
  dataset = readers.read_nih(readers.torchxrayvision_csv("Data_Entry_2017_v2020.csv.gz"))
  stats = dataset.label_statistics()
  # ChestX-ray14 as published: 112,120 images of 30,805 patients; 11,559 Atelectasis and 227 Hernia images.
  assert len(dataset) == 112120 and len(np.unique(dataset.patient_ids)) == 30805
  assert stats["Atelectasis"]["positive"] == 11559 and stats["Hernia"]["positive"] == 227


@needs_xrv
def test_real_chexpert_and_padchest_csvs_match_an_independent_count():
  path = readers.torchxrayvision_csv("chexpert_train.csv.gz")
  dataset = readers.read_chexpert(path, max_rows=3000)
  column = [r["Pleural Effusion"] for r in readers.read_csv_rows(path, 3000)]
  stats = dataset.label_statistics()["Effusion"]
  assert (stats["positive"], stats["negative"], stats["uncertain"], stats["unlabelled"]) == (
      column.count("1.0"), column.count("0.0"), column.count("-1.0"), column.count(""))
  path = readers.torchxrayvision_csv("PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz")
  dataset = readers.read_padchest(path, max_rows=3000)
  count = sum("'cardiomegaly'" in r["Labels"] for r in readers.read_csv_rows(path, 3000))
  assert dataset.label_statistics()["Cardiomegaly"]["positive"] == count > 0
  lateral = sum(r["Projection"] == "L" for r in readers.read_csv_rows(path, 3000))
  assert len(dataset.filter_views("L")) == lateral > 0


def test_label_stats_command_prints_counts(tmp_path, capsys):
  from jvision.xray import label_stats

  csv_path = write_csv(str(tmp_path / "d.csv"), ["Image Index", "Finding Labels", "Patient ID", "View Position"],
                       [["a.png", "Hernia", 1, "PA"], ["b.png", "Hernia|Mass", 2, "AP"], ["c.png", "Mass", 2, "AP"]])
  label_stats.main(["--nih", csv_path, "--views", "AP"])
  lines = capsys.readouterr().out.splitlines()
  assert "nih: 2 images, 1 patients, views {'AP': 2}" in lines
  hernia = next(line for line in lines if line.startswith("Hernia")).split()
  assert hernia[1:] == ["1", "1", "0", "0"]
  with pytest.raises(SystemExit):
    label_stats.main([])
