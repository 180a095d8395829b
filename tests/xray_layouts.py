"""CSV files in the layouts of the chest X-ray datasets, for tests (tests/xray)."""

import csv
import gzip
import os


def write_csv(path, header, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "wt", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  return path


CHEXPERT_HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", "Enlarged Cardiomediastinum",
                   "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation", "Pneumonia",
                   "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]


def chexpert_row(path, frontal, appa, cardiomegaly, effusion, edema):
  row = dict.fromkeys(CHEXPERT_HEADER, "")
  row.update({"Path": path, "Frontal/Lateral": frontal, "AP/PA": appa, "Cardiomegaly": cardiomegaly,
              "Pleural Effusion": effusion, "Edema": edema})
  return [row[c] for c in CHEXPERT_HEADER]
