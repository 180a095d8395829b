"""The chest X-ray experiment configs load, and their model outputs match the task."""

import os

import pytest

from jvision import config as config_lib
from jvision import tasks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("name", ["xray_densenet", "xray_cnn"])
def test_config_loads_and_heads_match(name):
  config = config_lib.load_config(os.path.join(ROOT, "experiments", f"{name}.py"))
  task = tasks.get_task(config.task.name, **{k: v for k, v in config.task.items() if k != "name"})
  assert config.model.num_classes == task.num_outputs == 5
  assert config.data.name == "xray_synthetic/64"
