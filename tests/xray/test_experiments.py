"""The chest X-ray experiment configs load, and their model outputs match the task."""

import os

import pytest

from jvision import config as config_lib
from jvision import tasks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("name", ["xray_densenet", "xray_cnn", "xray_cnn_class_map", "xray_cnn_evidence"])
def test_config_loads_and_heads_match(name):
  config = config_lib.load_config(os.path.join(ROOT, "experiments", f"{name}.py"))
  task = tasks.get_task(config.task.name, **{k: v for k, v in config.task.items() if k != "name"})
  assert config.model.num_classes == task.num_outputs == 5
  assert config.data.name == "xray_synthetic/64"


def test_autoencoder_config_builds_a_model_that_reconstructs_at_the_input_shape():
  import jax
  import jax.numpy as jnp

  from jvision import models

  config = config_lib.load_config(os.path.join(ROOT, "experiments", "xray_autoencoder.py"))
  tasks.get_task(config.task.name, **{k: v for k, v in config.task.items() if k != "name"})
  model = models.get_model(config.model.name, **{k: v for k, v in config.model.items() if k != "name"})
  x = jax.ShapeDtypeStruct((2, 64, 64, 1), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  assert jax.eval_shape(model.apply, variables, x).shape == (2, 64, 64, 1)
  z = jax.eval_shape(lambda v, x: model.apply(v, x, method=model.encode), variables, x)
  side = 64 // 2 ** len(config.model.features)
  assert z.shape == (2, side, side, config.model.latent_features)
