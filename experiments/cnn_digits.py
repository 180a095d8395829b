r"""The CNN classification exercise on scikit-learn's handwritten digits (embedded, no download).

The Quickstart's main job:

    python -m jvision.train --config experiments/cnn_digits.py --workdir runs/cnn_digits

Goal: at least 98% test accuracy in under 3 minutes on a 2-core CPU.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "digits"
  config.data.train_split = "train"
  config.data.eval_split = "test"
  config.data.data_dir = ""  # Empty: $TFDS_DATA_DIR or TFDS's default.

  config.task = ml_collections.ConfigDict()
  config.task.name = "classification"
  config.task.num_classes = 10
  config.task.mean = (0.3,)
  config.task.std = (0.4,)
  config.task.crop_padding = 1
  config.task.flip = False  # Digits are not mirror-symmetric.
  config.task.label_smoothing = 0.0

  config.model = ml_collections.ConfigDict()
  config.model.name = "cnn"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.features = (32, 64)
  config.model.convs_per_block = 2
  config.model.kernel_size = 3
  config.model.activation = "relu"
  config.model.batch_norm = True
  config.model.pooling = "max"
  config.model.dropout_rate = 0.2
  config.model.head_width = 128
  config.model.global_pool = False

  config.batch_size = 64
  config.grad_accum_steps = 1  # Micro-batches per step (gradient accumulation).
  config.total_steps = 1200  # ~53 epochs of the 1,437 training images.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 3e-3
  config.optimizer.weight_decay = 1e-4
  config.optimizer.momentum = 0.9
  config.optimizer.grad_clip_norm = 0.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"
  config.schedule.warmup_steps = 50
  config.schedule.decay_steps = ()
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 50
  config.eval_every_steps = 400
  config.eval_batch_size = 120
  config.checkpoint_every_steps = 400
  config.keep_checkpoints = 2
  config.async_checkpoints = True
  return config
