"""Tests for jvision/tasks/detection.py and jvision/tasks/localization.py: preprocessing of a hand-built raw
example, the evaluators against DetectionEvaluator/hand values, and each shapes experiment trained for two steps
by the generic trainer on a tiny shapes build (checkpoint, COCO/VOC metrics and predictions.png)."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jvision import config as config_lib, train
from jvision.data import shapes
from jvision.tasks.detection import DetectionTask
from jvision.tasks.localization import LocalizationTask

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _raw_example(image_id=7):
  """A raw ``shapes`` record: a 64 px image with two objects (TFDS boxes are normalised ymin, xmin, ymax, xmax)."""
  image = np.full((64, 64, 3), 100, np.uint8)
  return {"image": image, "image_id": np.int64(image_id), "caption": b"two shapes",
          "objects": {"bbox": np.array([[0.25, 0.125, 0.5, 0.5], [0.5, 0.5, 1.0, 0.75]], np.float32),
                      "label": np.array([3, 1]), "is_crowd": np.array([False, False])}}


def test_preprocess_eval_scales_boxes_and_pads_objects():
  task = DetectionTask("ssd", "shapes/multi", 6, 32, 4)
  out = task.preprocess_eval(_raw_example())
  assert out["image"].shape == (32, 32, 3) and out["boxes"].shape == (4, 4)
  np.testing.assert_allclose(out["boxes"][:2], [[4, 8, 16, 16], [16, 16, 24, 32]])  # xyxy, half of 64 px.
  np.testing.assert_array_equal(out["labels"], [3, 1, -1, -1])
  np.testing.assert_array_equal(out["valid"], [True, True, False, False])
  assert int(out["image_id"]) == 7


def test_unknown_family_and_out_of_range_labels_are_errors():
  with pytest.raises(ValueError, match="unknown detector family 'rcnn'"):
    DetectionTask("rcnn", "shapes/multi", 6, 32, 4)
  with pytest.raises(ValueError, match="label 3 is outside"):
    DetectionTask("ssd", "shapes/multi", 3, 32, 4).preprocess_eval(_raw_example())


def test_detection_evaluator_skips_padding_and_scores_perfect_predictions():
  task = DetectionTask("yolo", "shapes/multi", 6, 32, 4, class_names=shapes.CLASS_NAMES, num_pictures=2)
  example = task.preprocess_eval(_raw_example())
  batch = {k: np.stack([v, v]) for k, v in example.items()}
  outputs = {"boxes": batch["boxes"], "scores": np.where(batch["valid"], 0.9, 0.0), "classes": batch["labels"],
             "valid": batch["valid"], "gt_boxes": batch["boxes"], "gt_labels": batch["labels"],
             "gt_valid": batch["valid"], "gt_crowd": batch["is_crowd"], "image_id": batch["image_id"],
             "mask": np.array([True, False]), "image": batch["image"]}  # The second copy is padding.
  evaluator = task.make_evaluator()
  evaluator.add(outputs)
  result = evaluator.result()
  assert result["AP"] == pytest.approx(1.0) and result["VOC_mAP"] == pytest.approx(1.0)
  assert evaluator.picture().shape[-1] == 3


def test_localization_metrics_by_hand():
  task = LocalizationTask("shapes/single", 6, train_size=32, eval_size=64)
  example = task.preprocess_eval(_raw_example())
  # One slot: the larger object (16 x 32 px) is kept.
  np.testing.assert_allclose(example["box"], [32, 32, 48, 64])
  assert int(example["label"]) == 1 and bool(example["has_object"])
  boxes = np.array([[32, 32, 48, 64], [32, 32, 64, 64], [32, 32, 48, 64]], np.float32)  # IoU 1, 0.5, 1.
  predictions = {"boxes": boxes[:, None], "scores": np.full((3, 1), 0.5), "classes": np.array([[1], [1], [4]]),
                 "valid": np.ones((3, 1), bool)}
  batch = {"image": np.zeros((3, 64, 64, 3), np.float32), "box": np.tile(example["box"], (3, 1)),
           "label": np.full(3, 1), "has_object": np.ones(3, bool), "image_id": np.arange(3),
           "mask": np.ones(3, bool)}
  outputs = task.eval_outputs(lambda variables, images, method: predictions, {}, batch)
  evaluator = task.make_evaluator()
  evaluator.add({k: np.asarray(v) for k, v in outputs.items()})
  result = evaluator.result()
  assert result["mean_iou"] == pytest.approx(2.5 / 3)
  assert result["class_accuracy"] == pytest.approx(2 / 3)
  assert result["localization_accuracy"] == pytest.approx(2 / 3)  # Right class and IoU >= 0.5: the first two.


def test_localization_background_windows_are_labelled_with_the_extra_class():
  task = LocalizationTask("shapes/single", 6, train_size=32, eval_size=64, background_fraction=0.5, jitter=False)
  rng = np.random.default_rng(0)
  examples = [task.preprocess_train(_raw_example(), rng) for _ in range(40)]
  background = [e for e in examples if not e["has_object"]]
  assert 5 <= len(background) <= 30  # About half; a few background draws fall back to object views.
  assert all(int(e["label"]) == 6 for e in background)
  assert all(int(e["label"]) in (1, 3) and e["image"].shape == (32, 32, 3) for e in examples if e["has_object"])
  with pytest.raises(ValueError, match="background_fraction"):
    LocalizationTask("shapes/single", 6, background_fraction=1.0)


def test_localization_part_windows_are_labelled_with_the_extra_class():
  task = LocalizationTask("shapes/single", 6, train_size=32, eval_size=64, background_fraction=0.25,
                          part_fraction=0.5, jitter=False)
  rng = np.random.default_rng(0)
  examples = [task.preprocess_train(_raw_example(), rng) for _ in range(40)]
  no_object = [e for e in examples if not e["has_object"]]
  assert 20 <= len(no_object) <= 36  # About three quarters (parts never fall back to an object view).
  assert all(int(e["label"]) == 6 for e in no_object)
  with pytest.raises(ValueError, match="background_fraction \\+ part_fraction below 1"):
    LocalizationTask("shapes/single", 6, background_fraction=0.5, part_fraction=0.5)


TINY_RUNS = {
    "ssd_shapes.py": ["model.base_widths=(8, 8, 16)", "model.extra_width=8", "model.max_detections=20"],
    "yolo_shapes.py": ["model.base_widths=(8, 8, 16)", "model.head_width=8", "model.head_convs=1",
                       "model.max_detections=20"],
    "overfeat_shapes.py": ["model.widths=(8, 8, 8, 16)", "model.dense_width=16", "task.eval_size=80",
                           "model.scales=(64, 80)"],
}


@pytest.fixture(scope="module")
def tiny_shapes(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("tiny_shapes"))
  sources = {}
  for name, max_objects in (("multi", 4), ("single", 1)):
    config = shapes.ShapesConfig(name=f"{name}_det_tiny", image_size=64, max_objects=max_objects, num_train=16,
                                 num_test=6)
    builder = shapes.Shapes(config=config, data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare(file_format="array_record")
    sources[f"shapes/{name}"] = {split: builder.as_data_source(split=split) for split in ("train", "test")}
  return sources


@pytest.mark.heavy
@pytest.mark.parametrize("experiment", sorted(TINY_RUNS))
def test_experiment_trains_two_steps_and_draws_predictions(experiment, tiny_shapes, tmp_path, monkeypatch):
  config = config_lib.load_config(os.path.join(REPO, "experiments", experiment), TINY_RUNS[experiment] + [
      "total_steps=2", "batch_size=8", "eval_batch_size=8", "log_every_steps=1", "eval_every_steps=2",
      "checkpoint_every_steps=2", "schedule.warmup_steps=1", "async_checkpoints=false"])
  monkeypatch.setattr(train.data, "data_source", lambda name, split, data_dir=None: tiny_shapes[name][split])
  summary = train.train_and_evaluate(config, str(tmp_path), progress=False, devices=train.jax.devices()[:1])
  assert summary["step"] == 2
  for name in ("AP", "AP50", "VOC_mAP"):
    assert 0.0 <= summary[f"eval/{name}"] <= 1.0, name
  assert os.path.exists(tmp_path / "predictions.png")
  assert os.path.isdir(tmp_path / "checkpoints" / "2")
