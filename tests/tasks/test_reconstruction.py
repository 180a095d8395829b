"""Tests for jvision/tasks/reconstruction.py: errors by hand, loss of a perfect model, masked eval sums."""

import jax.numpy as jnp
import numpy as np
import pytest

from jvision import tasks


def test_per_image_errors_by_hand():
  task = tasks.get_task("reconstruction")
  images = jnp.zeros((2, 2, 2, 1))
  # Image 0 off by 512 (0.5 scaled) everywhere; image 1 off by 1024 on one of 4 pixels.
  recon = jnp.stack([jnp.full((2, 2, 1), 512.0), jnp.zeros((2, 2, 1)).at[0, 0, 0].set(1024.0)])
  errors = task.per_image_errors(recon, images)
  np.testing.assert_allclose(errors["mse"], [0.25, 0.25])
  np.testing.assert_allclose(errors["mae"], [0.5, 0.25])
  np.testing.assert_allclose(errors["psnr"], [10 * np.log10(4 / 0.25)] * 2, rtol=1e-6)


def test_loss_and_eval_outputs():
  task = tasks.get_task("reconstruction", l1_weight=0.5, augment=False)
  example = {"image": np.full((4, 4, 1), 255, np.uint8)}
  batch = {"image": jnp.stack([task.preprocess_eval(example)["image"]] * 3), "mask": jnp.array([1, 1, 0])}
  np.testing.assert_allclose(batch["image"], 1024.0)
  shift = lambda variables, x, train=False, **kw: ((x - 512.0, {}) if "mutable" in kw else x - 512.0)
  loss, (metrics, _) = task.loss(shift, {"params": {}}, batch, rng=None)
  np.testing.assert_allclose(loss, 0.25 + 0.5 * 0.5)
  evaluator = task.make_evaluator()
  evaluator.add({k: np.asarray(v) for k, v in task.eval_outputs(shift, {"params": {}}, batch).items()})
  result = evaluator.result()
  np.testing.assert_allclose([result["mse"], result["mae"]], [0.25, 0.5])  # Padding row left out.


def test_bad_inputs():
  with pytest.raises(ValueError, match="l1_weight"):
    tasks.get_task("reconstruction", l1_weight=-1.0)
  with pytest.raises(KeyError, match="no 'image' key"):
    tasks.get_task("reconstruction").preprocess_eval({"pixels": np.zeros((4, 4), np.uint8)})
