r"""A small CNN multi-label classifier on the embedded synthetic chest X-rays: the CPU-sized run.

    python -m jvision.train --config experiments/xray_cnn.py --workdir runs/xray_cnn

Same data, task and uncertainty policy as ``experiments/xray_densenet.py`` (U-Ones with label smoothing,
torchxrayvision-range inputs, per-pathology ROC AUC on the test split's ground truth), with a 4-block CNN
that trains in minutes on a small CPU. Goal: mean AUC >= 0.9.
"""

import importlib.util
import os


def _densenet_config():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xray_densenet.py")
  spec = importlib.util.spec_from_file_location("xray_densenet_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config():
  config = _densenet_config()
  config.model.name = "cnn"
  config.model.features = (16, 32, 64, 96)
  config.model.convs_per_block = 1
  config.model.kernel_size = 3
  config.model.activation = "relu"
  config.model.batch_norm = True
  config.model.pooling = "max"
  config.model.dropout_rate = 0.0
  config.model.head_width = 64
  config.model.global_pool = True
  config.total_steps = 1000  # 8 epochs of the 4,000 training images.
  config.optimizer.learning_rate = 2e-3
  config.schedule.warmup_steps = 50
  return config
