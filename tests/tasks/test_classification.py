"""The classification task: preprocessing, masked eval sums against numpy, the CIFAR-10 pipeline on mock data."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jvision import config as config_lib, train
from jvision.tasks.classification import ClassificationTask

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_preprocess_scales_normalizes_and_checks_labels():
  task = ClassificationTask(num_classes=3, mean=(0.5,), std=(0.5,))
  out = task.preprocess_eval({"image": np.array([[[0], [255]]], np.uint8), "label": 2})
  np.testing.assert_allclose(out["image"], [[[-1.0], [1.0]]])
  assert out["label"] == 2 and out["label"].dtype == np.int32
  with pytest.raises(ValueError, match=r"label 3 is outside \[0, 3\)"):
    task.preprocess_eval({"image": np.zeros((2, 2, 1), np.uint8), "label": 3})
  with pytest.raises(KeyError, match="example has no 'label' key; it has: image"):
    task.preprocess_eval({"image": np.zeros((2, 2, 1), np.uint8)})


def test_eval_sums_ignore_masked_examples():
  task = ClassificationTask(num_classes=4)
  logits = np.array([[5, 0, 0, 0], [0, 5, 0, 0], [0, 0, 0, 5], [9, 0, 0, 0]], np.float32)
  batch = {"image": jnp.zeros((4, 1)), "label": jnp.array([0, 1, 2, 1]),
           "mask": jnp.array([True, True, True, False])}
  sums = task.eval_outputs(lambda variables, images, train: jnp.asarray(logits), {}, batch)
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  assert float(sums["count"]) == 3 and float(sums["accuracy"]) == 2
  np.testing.assert_allclose(sums["loss"], -sum(log_probs[i, [0, 1, 2][i]] for i in range(3)), rtol=1e-6)
  evaluator = task.make_evaluator()
  evaluator.add(jax.device_get(sums))
  evaluator.add(jax.device_get(sums))  # Two batches: sums add up, the mean stays.
  assert evaluator.result()["accuracy"] == pytest.approx(2 / 3)


def test_cifar10_config_trains_on_mock_data(tmp_path):
  config = config_lib.load_config(os.path.join(REPO, "experiments", "cnn_cifar10.py"), [
      "total_steps=2", "batch_size=16", "eval_batch_size=16", "model.features=(8,)", "model.head_width=8",
      "schedule.warmup_steps=1", "log_every_steps=1", "eval_every_steps=2", "checkpoint_every_steps=2",
      "async_checkpoints=false"])
  with tfds.testing.mock_data(num_examples=40):
    summary = train.train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary["step"] == 2 and 0.0 <= summary["eval/accuracy"] <= 1.0
  assert np.isfinite(summary["eval/loss"])


def test_nested_one_element_label_resize_and_grey_to_rgb():
  task = ClassificationTask(num_classes=6, label_key="objects/label", mean=(0.0,), std=(1.0,), image_size=4,
                            channels=3)
  image = np.array([[[0], [255]], [[255], [0]]], np.uint8)
  out = task.preprocess_eval({"image": image, "objects": {"label": np.array([4])}})
  assert out["label"] == 4 and out["image"].shape == (4, 4, 3)
  # Half-pixel-centre bilinear: the 2x2 corners survive at the 4x4 corners; channels are copies.
  np.testing.assert_allclose(out["image"][[0, 0, 3, 3], [0, 3, 0, 3], 0], [0, 1, 1, 0])
  np.testing.assert_allclose(out["image"][..., 0], out["image"][..., 2])
  np.testing.assert_allclose(out["image"][0, :, 0], [0, 0.25, 0.75, 1], atol=1e-6)
  with pytest.raises(ValueError, match="'objects/label' holds 2 values"):
    task.preprocess_eval({"image": image, "objects": {"label": np.array([1, 2])}})
  with pytest.raises(KeyError, match="example has no 'objects/label' key; it has: image"):
    task.preprocess_eval({"image": image})


def test_box_key_crops_the_object_before_resizing():
  task = ClassificationTask(num_classes=6, label_key="objects/label", box_key="objects/bbox", box_context=0.0,
                            mean=(0.0,), std=(1.0,), image_size=2)
  image = np.zeros((8, 8, 1), np.uint8)
  image[4:8, 0:4] = 255  # The object fills the bottom-left quarter.
  example = {"image": image, "objects": {"label": np.array([1]), "bbox": np.array([[0.5, 0.0, 1.0, 0.5]])}}
  np.testing.assert_array_equal(task.preprocess_eval(example)["image"], np.ones((2, 2, 1)))
  example["objects"]["bbox"] = np.zeros((2, 4))
  with pytest.raises(ValueError, match="holds 2 boxes"):
    task.preprocess_eval(example)
