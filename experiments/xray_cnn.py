r"""A small CNN multi-label classifier on the embedded synthetic chest X-rays: the CPU-sized run.

    python -m jvision.train --config experiments/xray_cnn.py --workdir runs/xray_cnn

Same data, task and uncertainty policy as ``experiments/xray_densenet.py`` (U-Ones with label smoothing,
torchxrayvision-range inputs, per-pathology ROC AUC on the test split's ground truth), with a 4-block CNN
that trains in minutes on a small CPU. Goal: mean AUC >= 0.9.

Measured (seed 0, 1000 steps, 484 s of training on a shared 2-core CPU): mean ROC AUC 0.946, mean PR AUC
0.918; Cardiomegaly 1.000, Effusion 0.985, Nodule 0.835, Mass 0.989, Consolidation 0.922. With
``--config.task.uncertainty_policy=ignore``: mean ROC AUC 0.945. Print with
``python -m jvision.evaluate --config experiments/xray_cnn.py --workdir runs/xray_cnn``.
"""

from jvision import config as config_lib


def get_config():
  config = config_lib.sibling_experiment(__file__, "xray_densenet.py").get_config()
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
  config.model.global_pool_op = "mean"
  config.model.class_map = False
  config.total_steps = 1000  # 8 epochs of the 4,000 training images.
  config.optimizer.learning_rate = 2e-3
  config.schedule.warmup_steps = 50
  return config
