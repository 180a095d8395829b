"""Prints label statistics of chest X-ray label CSVs in torchxrayvision's 18 pathologies.

    python -m jvision.xray.label_stats --torchxrayvision          # the CSVs that package ships
    python -m jvision.xray.label_stats --nih Data_Entry_2017.csv --images images/ --views PA AP

Per dataset: images, patients, views, and per pathology the positive/negative/uncertain/unlabelled counts.
With ``--images`` the labels are first paired with the image files found there.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from jvision.xray import readers

# Dataset -> (reader, CSV file names in the torchxrayvision package, extra keyword CSVs).
TORCHXRAYVISION_CSVS = {
    "nih": (readers.read_nih, "Data_Entry_2017_v2020.csv.gz", {}),
    "chexpert": (readers.read_chexpert, "chexpert_train.csv.gz", {}),
    "padchest": (readers.read_padchest, "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz", {}),
    "rsna": (readers.read_rsna, "kaggle_stage_2_train_labels.csv.zip",
             {"headers_csv": "kaggle_stage_2_train_images_dicom_headers.csv.gz"}),
    "vinbigdata": (readers.read_vinbigdata, "vinbigdata-train.csv.gz", {}),
}


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--torchxrayvision", action="store_true", help="read the CSVs torchxrayvision ships")
  for name in TORCHXRAYVISION_CSVS:
    parser.add_argument(f"--{name}", metavar="CSV", help=f"a {name} label CSV")
  parser.add_argument("--images", help="image folder to pair the labels with (one dataset at a time)")
  parser.add_argument("--views", nargs="+", help="keep only these views (PA, AP, L)")
  parser.add_argument("--max-rows", type=int, default=None, help="read only the first rows of each CSV")
  args = parser.parse_args(argv)
  jobs = []
  for name, (reader, filename, extra) in TORCHXRAYVISION_CSVS.items():
    path = getattr(args, name)
    if path is None and args.torchxrayvision:
      path = readers.torchxrayvision_csv(filename)
      if path is None:
        raise SystemExit(f"torchxrayvision's {filename} is not installed (pip install --no-deps torchxrayvision)")
      extra = {k: readers.torchxrayvision_csv(v) for k, v in extra.items()}
    else:
      extra = {}
    if path is not None:
      jobs.append((reader, path, extra))
  if not jobs:
    parser.error("name a CSV (e.g. --nih PATH) or pass --torchxrayvision")
  for reader, path, extra in jobs:
    dataset = reader(path, image_dir=args.images, views=args.views, max_rows=args.max_rows, **extra)
    print(f"{path}\n{dataset.format_statistics()}\n", flush=True)


if __name__ == "__main__":
  main()
