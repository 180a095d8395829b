r"""U-Net pet / background segmentation on Oxford-IIIT Pet (the trimap's border pixels are ignored).

Bring the data: ``tfds build oxford_iiit_pet --file_format=array_record`` into $TFDS_DATA_DIR (or set
``config.data.data_dir``), then

    python -m jvision.train --config experiments/unet_pets.py --workdir runs/unet_pets

Images are resized (longer side 128, the rest padded and ignored). ``--config.task.adapter_options.breed_classes
=true --config.task.num_classes=38 --config.model.num_classes=38`` segments the 37 breeds instead. The pipeline
is tested with TFDS mock data (tests/tasks/test_segmentation.py); no result is claimed without the real data.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "oxford_iiit_pet"
  config.data.train_split = "train"
  config.data.eval_split = "test"
  config.data.data_dir = ""

  config.task = ml_collections.ConfigDict()
  config.task.name = "segmentation"
  config.task.num_classes = 2  # Background, pet (border: 255, ignored).
  config.task.dataset = "oxford_iiit_pet"
  config.task.image_size = 128
  config.task.flip = True
  config.task.jitter = True
  config.task.adapter_options = ml_collections.ConfigDict({"breed_classes": False})
  config.task.loss = "cross_entropy"
  config.task.dice_weight = 0.5

  config.model = ml_collections.ConfigDict()
  config.model.name = "unet"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.width = 32
  config.model.depth = 5
  config.model.batch_norm = True
  config.model.dropout_rate = 0.0

  config.batch_size = 16
  config.total_steps = 10000
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
  config.eval_every_steps = 2000
  config.eval_batch_size = 32
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 2
  config.async_checkpoints = True
  return config
