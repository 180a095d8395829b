"""jvision/xray/source.py on a generated folder in CheXpert's layout, and experiments/chexpert_densenet.py's
pipeline through the trainer."""

import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from jvision import config as config_lib, data, train
from jvision.xray import source
from xray_layouts import CHEXPERT_HEADER, chexpert_row, write_csv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAN = np.nan


def make_chexpert(root, num_frontal=8, seed=0):
  """CheXpert-v1.0-small in miniature: frontal JPEGs of different sizes, a lateral, a row without its file."""
  rng = np.random.default_rng(seed)
  folder = os.path.join(root, "CheXpert-v1.0-small")
  pixels, rows = {}, {"train": [], "valid": []}
  for split, count in (("train", num_frontal), ("valid", 3)):
    for i in range(count):
      relative = f"{split}/patient{i:05d}/study1/view1_frontal.jpg"
      path = os.path.join(folder, relative)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      image = rng.integers(0, 256, (40 + 4 * i, 36)).astype(np.uint8)
      Image.fromarray(image).save(path, quality=100)
      with Image.open(path) as saved:
        pixels[relative] = np.asarray(saved)  # JPEG is lossy: the decoded pixels are the reference.
      labels = [("1.0", "-1.0", ""), ("0.0", "", "1.0"), ("", "0.0", "-1.0")][i % 3]
      rows[split].append(chexpert_row(f"CheXpert-v1.0-small/{relative}", "Frontal", "AP" if i % 2 else "PA",
                                      *labels))
    rows[split].append(chexpert_row(f"CheXpert-v1.0-small/{split}/patient00000/study1/view2_lateral.jpg",
                                    "Lateral", "", "1.0", "1.0", "1.0"))
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(
        os.path.join(folder, split, "patient00000", "study1", "view2_lateral.jpg"))
    rows[split].append(chexpert_row(f"CheXpert-v1.0-small/{split}/patient09999/study1/view1_frontal.jpg",
                                    "Frontal", "PA", "1.0", "", ""))  # No such file: dropped.
    write_csv(os.path.join(folder, f"{split}.csv"), CHEXPERT_HEADER, rows[split])
  return folder, pixels


def test_frontal_images_with_competition_labels_read_from_disk(tmp_path):
  folder, pixels = make_chexpert(str(tmp_path))
  train_source = data.data_source("chexpert", "train", folder)
  assert isinstance(train_source, source.XraySource) and len(train_source) == 8  # No lateral, no missing file.
  example = train_source[1]
  np.testing.assert_array_equal(example["image"][..., 0], pixels["train/patient00001/study1/view1_frontal.jpg"])
  assert example["image"].shape == (44, 36, 1) and example["image"].dtype == np.uint8
  # (Atelectasis, Cardiomegaly, Consolidation, Edema, Effusion): rows carry Cardiomegaly, Effusion, Edema.
  np.testing.assert_array_equal(train_source[0]["labels"], [NAN, 1.0, NAN, NAN, -1.0])
  np.testing.assert_array_equal(train_source[1]["labels"], [NAN, 0.0, NAN, 1.0, NAN])
  np.testing.assert_array_equal(train_source[2]["labels"], [NAN, NAN, NAN, -1.0, 0.0])
  assert len(data.data_source("chexpert/all_views", "train", folder)) == 9
  assert len(data.data_source("chexpert", "valid", folder)) == 3
  sliced = data.data_source("chexpert", "train[2:5]", folder)
  np.testing.assert_array_equal(sliced[0]["image"], train_source[2]["image"])
  assert len(sliced) == 3


def test_bad_folder_split_and_variant_are_clear_errors(tmp_path):
  folder, _ = make_chexpert(str(tmp_path), num_frontal=1)
  with pytest.raises(FileNotFoundError, match="train.csv and valid.csv"):
    data.data_source("chexpert", "train", str(tmp_path))
  with pytest.raises(ValueError, match="config.data.data_dir"):
    data.data_source("chexpert", "train", None)
  with pytest.raises(ValueError, match="train or valid"):
    data.data_source("chexpert", "test", folder)
  with pytest.raises(ValueError, match=r"selects none of the 1 images of train.csv"):
    data.data_source("chexpert", "train[5:]", folder)
  with pytest.raises(ValueError, match="known: chexpert, chexpert/all_views"):
    data.data_source("chexpert/lateral", "train", folder)


def test_experiment_trains_and_evaluates_on_a_chexpert_folder(tmp_path):
  folder, _ = make_chexpert(str(tmp_path))
  # The experiment's data, task and optimizer; a small CNN at 32 px instead of DenseNet-121 at 224 for speed.
  config = config_lib.load_config(os.path.join(ROOT, "experiments", "chexpert_densenet.py"), [
      f"data.data_dir={folder}", "task.image_size=32", "dtype=float32", "batch_size=8", "total_steps=2",
      "eval_every_steps=2", "eval_batch_size=8", "log_every_steps=1", "checkpoint_every_steps=2",
      "async_checkpoints=false"])
  config.model = ml_collections.ConfigDict(dict(name="cnn", num_classes=5, features=(4, 8), head_width=8,
                                                global_pool=True))
  summary = train.train_and_evaluate(config, str(tmp_path / "run"), progress=False,
                                     devices=train.jax.devices()[:1])
  assert summary["step"] == 2
  assert 0.0 <= summary["eval/mean_auc"] <= 1.0
