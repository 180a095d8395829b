r"""A source task for fine-tuning onto real digits: a narrow ResNet-18 reads typeset digits (`printed_digits`).

    python -m jvision.train --config experiments/pretrain_printed_digits.py --workdir runs/pretrain_printed

20,000 digits drawn from code with Pillow's built-in typeface, randomly rotated, sheared, thickened and
elastically distorted, then reduced to 8x8 block counts exactly as UCI optdigits (scikit-learn's `digits`)
was made (`jvision.data.printed_digits`). Same ten classes and format as the target, another domain: print,
not 43 people's handwriting. `experiments/finetune_digits.py` exports the trained weights as a
torchvision-named `.npz` and imports them like a downloaded file. The measured accuracy is in README's
fine-tuning section (printed by the driver when it pretrains).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "printed_digits"
  config.data.train_split = "train"
  config.data.eval_split = "test"
  config.data.data_dir = ""  # Empty: $TFDS_DATA_DIR or TFDS's default.

  # The target's input conventions (experiments/finetune_digits.py): 8 px upscaled to 32, grey as RGB.
  config.task = ml_collections.ConfigDict()
  config.task.name = "classification"
  config.task.num_classes = 10
  config.task.image_size = 32
  config.task.channels = 3
  config.task.mean = (0.5,)
  config.task.std = (0.25,)
  config.task.crop_padding = 2
  config.task.flip = False  # Digits are not mirror-symmetric.
  config.task.label_smoothing = 0.0

  config.model = ml_collections.ConfigDict()
  config.model.name = "resnet18"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.width = 16  # A quarter of torchvision's 64: minutes on a CPU.
  config.model.cifar_stem = False  # 7x7/2 stem and max-pool, as torchvision.

  config.batch_size = 64
  config.total_steps = 800  # 2.6 epochs of the 20,000 digits.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 3e-3
  config.optimizer.weight_decay = 1e-4
  config.optimizer.grad_clip_norm = 0.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"
  config.schedule.warmup_steps = 50

  config.log_every_steps = 50
  config.eval_every_steps = 800
  config.eval_batch_size = 200
  config.checkpoint_every_steps = 400
  config.keep_checkpoints = 1
  config.async_checkpoints = True
  return config
