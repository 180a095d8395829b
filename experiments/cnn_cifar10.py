r"""The configurable CNN on CIFAR-10 (needs the TFDS `cifar10` dataset prepared once).

    tfds build cifar10 --file_format=array_record
    python -m jvision.train --config experiments/cnn_cifar10.py --workdir runs/cnn_cifar10

A VGG-style CNN (3 blocks of 2 convs, BN, max-pool) with the standard CIFAR augmentation (4-pixel padded
random crops, horizontal flips), SGD with Nesterov momentum, cosine schedule. The learning rate scales
linearly with the batch size (0.1 per 128 images).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "cifar10"
  config.data.train_split = "train"
  config.data.eval_split = "test"
  config.data.data_dir = ""

  config.task = ml_collections.ConfigDict()
  config.task.name = "classification"
  config.task.num_classes = 10
  config.task.mean = (0.4914, 0.4822, 0.4465)
  config.task.std = (0.2470, 0.2435, 0.2616)
  config.task.crop_padding = 4
  config.task.flip = True
  config.task.label_smoothing = 0.0

  config.model = ml_collections.ConfigDict()
  config.model.name = "cnn"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.features = (64, 128, 256)
  config.model.convs_per_block = 2
  config.model.kernel_size = 3
  config.model.activation = "relu"
  config.model.batch_norm = True
  config.model.pooling = "max"
  config.model.dropout_rate = 0.3
  config.model.head_width = 256
  config.model.global_pool = False

  config.batch_size = 128
  config.grad_accum_steps = 1  # Micro-batches per step (gradient accumulation).
  config.total_steps = 39_000  # 100 epochs of 50k images.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "nesterov"
  config.optimizer.learning_rate = 0.1 * config.batch_size / 128
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 5e-4
  config.optimizer.grad_clip_norm = 0.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"
  config.schedule.warmup_steps = 780
  config.schedule.decay_steps = ()
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 100
  config.eval_every_steps = 3900
  config.eval_batch_size = 500
  config.checkpoint_every_steps = 3900
  config.keep_checkpoints = 3
  config.async_checkpoints = True
  return config
