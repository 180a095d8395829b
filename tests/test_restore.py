"""Tests for jvision/restore.py: a trained workdir rebuilds to the same predictions as the trainer's state."""

import os

import jax
import numpy as np
import pytest
from run_helpers import tiny_config

from jvision import checkpointing, restore, train


def test_load_run_predicts_like_the_trained_state(tmp_path):
  config = tiny_config("total_steps=3", "checkpoint_every_steps=2", "eval_every_steps=3")
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir, progress=False)
  assert restore.checkpoint_steps(workdir) == [2, 3]
  run = restore.load_run(workdir)
  assert run.step == 3 and run.config.model.name == "cnn" and set(run.variables) == {"params", "batch_stats"}
  # The trainer's own restore path (jvision.evaluate) gives the reference predictions.
  exp = train.build_experiment(config)
  images = np.stack([exp.task.preprocess_eval(exp.eval_source[i])["image"] for i in range(4)])
  checkpointer = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"), every_steps=1, keep=1,
                                            use_async=False)
  state, _, step = train.restore_or_init(exp, checkpointer)
  checkpointer.close()
  expected = exp.model.apply({"params": state.params, **state.model_state}, images, train=False)
  np.testing.assert_allclose(run.model.apply(run.variables, images, train=False), jax.device_get(expected),
                             rtol=1e-5, atol=1e-5)
  assert restore.load_run(workdir, step=2).step == 2
  with pytest.raises(FileNotFoundError, match="saved steps: \\[2, 3\\]"):
    restore.load_run(workdir, step=7)
  with pytest.raises(FileNotFoundError, match="config.json"):
    restore.load_run(str(tmp_path / "missing"))
