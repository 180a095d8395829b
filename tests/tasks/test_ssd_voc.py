"""The experiments/ssd_voc.py pipeline on mock VOC records (no VOC data): adapter, SSD augmentation, targets,
loss and evaluation, with a tiny model of the same family."""

import os

import jax
import jax.numpy as jnp
import numpy as np

from jvision import config as config_lib, models, tasks

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _mock_voc_record(rng, image_id):
  """A record in the ``voc/2007`` TFDS format: a 75 x 100 image and three objects, one of them difficult."""
  corners = np.sort(rng.uniform(0, 1, size=(3, 2, 2)), axis=1)  # (ymin, xmin) <= (ymax, xmax)
  return {"image": rng.integers(0, 256, size=(75, 100, 3), dtype=np.uint8),
          "image/filename": f"{image_id:06d}.jpg".encode(),
          "objects": {"bbox": corners.reshape(3, 4).astype(np.float32), "label": np.array([0, 14, 19]),
                      "is_difficult": np.array([False, False, True]), "is_truncated": np.zeros(3, bool),
                      "pose": np.zeros(3, np.int64)}}


def test_ssd_voc_pipeline_on_mock_records():
  config = config_lib.load_config(os.path.join(REPO, "experiments", "ssd_voc.py"), [
      "task.image_size=64", "model.base_widths=(8, 8, 8, 16)", "model.extra_width=8", "model.max_detections=20"])
  task_kwargs = {k: v for k, v in config.task.items() if k != "name"}
  task = tasks.get_task(config.task.name, **task_kwargs)
  model = models.get_model(config.model.name, **{k: v for k, v in config.model.items() if k != "name"})
  rng = np.random.default_rng(0)
  train_examples = [task.preprocess_train(_mock_voc_record(rng, i), np.random.default_rng(i)) for i in range(4)]
  eval_examples = [task.preprocess_eval(_mock_voc_record(rng, 10 + i)) for i in range(4)]
  for example in train_examples:
    assert example["image"].shape == (64, 64, 3) and example["boxes"].shape == (48, 4)
    assert not np.any(example["is_crowd"][example["valid"]])  # Difficult objects are dropped in training.
  eval_first = eval_examples[0]
  assert int(eval_first["valid"].sum()) == 3 and bool(eval_first["is_crowd"][2])
  assert int(eval_first["image_id"]) == 10
  stack = lambda examples: {k: jnp.asarray(np.stack([e[k] for e in examples])) for k in examples[0]}
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))
  loss, (metrics, _) = jax.jit(lambda v, b: task.loss(model.apply, v, b, jax.random.PRNGKey(1)))(
      variables, stack(train_examples))
  assert np.isfinite(float(loss)) and float(metrics["positives"]) > 0
  batch = stack(eval_examples)
  batch["mask"] = jnp.ones(4, bool)
  outputs = jax.jit(lambda v, b: task.eval_outputs(model.apply, v, b))(variables, batch)
  evaluator = task.make_evaluator()
  evaluator.add(jax.device_get(outputs))
  result = evaluator.result()
  assert 0.0 <= result["VOC07_mAP"] <= 1.0 and 0.0 <= result["AP"] <= 1.0
