"""The segmentation task: preprocessing, masked confusion matrices, the picture, and the configs' pipelines."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from jvision import config as config_lib, train
from jvision.data import box_transforms
from jvision.tasks.segmentation import SegmentationTask

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _shapes_example(size=8):
  segmentation = np.zeros((size, size, 1), np.uint8)
  segmentation[2:5, 3:6] = 3  # label 2 + 1
  return {"image": np.full((size, size, 3), 255, np.uint8), "image_id": 7,
          "objects": {"bbox": np.array([[2 / size, 3 / size, 5 / size, 6 / size]], np.float32),
                      "label": np.array([2]), "is_crowd": np.array([False])},
          "segmentation_mask": segmentation, "caption": b"a shape"}


def test_preprocess_resizes_normalizes_and_checks_classes():
  task = SegmentationTask(num_classes=4, image_size=4, mean=(0.5,), std=(0.5,))
  out = task.preprocess_eval(_shapes_example())
  np.testing.assert_allclose(out["image"], np.ones((4, 4, 3)))
  # Nearest resize 8 -> 4 samples rows/columns 1, 3, 5, 7: class 3 on rows 3 (index 1) and cols 3, 5.
  expected = np.zeros((4, 4), np.int32)
  expected[1, 1:3] = 3
  np.testing.assert_array_equal(out["segmentation"], expected)
  with pytest.raises(ValueError, match=r"class 3 outside \[0, 3\)"):
    SegmentationTask(num_classes=3, image_size=8).preprocess_eval(_shapes_example())
  with pytest.raises(ValueError, match="unknown segmentation loss 'dyce'"):
    SegmentationTask(num_classes=3, loss="dyce")


def test_eval_outputs_count_valid_images_and_pixels():
  task = SegmentationTask(num_classes=3)
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 4, 4, 3)).astype(np.float32)
  target = rng.integers(0, 3, (3, 4, 4)).astype(np.int32)
  target[0, 0] = 255
  batch = {"image": jnp.zeros((3, 4, 4, 3)), "segmentation": jnp.asarray(target),
           "mask": jnp.array([True, True, False])}
  out = jax.jit(lambda b: task.eval_outputs(lambda v, x, train: jnp.asarray(logits), {}, b))(batch)
  keep = (target != 255) & np.array([True, True, False])[:, None, None]
  expected = skm.confusion_matrix(target[keep], logits.argmax(-1)[keep], labels=range(3))
  np.testing.assert_array_equal(out["confusion"], expected)
  assert float(out["count"]) == 2
  evaluator = task.make_evaluator()
  evaluator.add(jax.device_get(out))
  assert evaluator.result()["pixel_accuracy"] == pytest.approx(np.trace(expected) / expected.sum())


def _pet(rng, index):
  """A coherent Oxford-IIIT Pet example (what TFDS decodes): trimap 1 pet, 2 background, 3 border."""
  height, width = rng.integers(20, 40, 2)
  trimap = np.full((height, width, 1), 2, np.uint8)
  trimap[5:15, 4:16] = 3
  trimap[6:14, 5:15] = 1
  return {"image": rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "label": int(rng.integers(37)),
          "species": 0, "file_name": f"pet_{index}.jpg", "segmentation_mask": trimap}


def test_pets_config_trains_on_mock_data(tmp_path, monkeypatch):
  rng = np.random.default_rng(0)
  examples = [_pet(rng, i) for i in range(12)]
  monkeypatch.setattr(train.data, "data_source", lambda name, split, data_dir=None: examples)
  config = config_lib.load_config(os.path.join(REPO, "experiments", "unet_pets.py"), [
      "total_steps=2", "batch_size=8", "eval_batch_size=8", "model.width=4", "model.depth=2",
      "task.image_size=16", "schedule.warmup_steps=1", "log_every_steps=1", "eval_every_steps=2",
      "checkpoint_every_steps=2", "async_checkpoints=false"])
  summary = train.train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary["step"] == 2 and 0.0 <= summary["eval/miou"] <= 1.0 and np.isfinite(summary["eval/loss"])
  picture = tmp_path / "predictions.png"
  assert picture.exists() and picture.stat().st_size > 0


def test_pet_trimap_becomes_pet_background_and_ignore():
  task = SegmentationTask(num_classes=2, dataset="oxford_iiit_pet", image_size=32)
  example = _pet(np.random.default_rng(1), 0)
  out = task.preprocess_eval(example)
  trimap = box_transforms.resize_and_pad(
      {"image": example["image"], "boxes": np.zeros((0, 4)), "segmentation": example["segmentation_mask"][..., 0]},
      32)["segmentation"]
  expected = np.select([trimap == 1, trimap == 2], [1, 0], 255)
  np.testing.assert_array_equal(out["segmentation"], expected)
  assert (out["segmentation"] == 255).any() and (out["segmentation"] == 1).any()
