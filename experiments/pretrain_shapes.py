r"""The source task of the fine-tuning experiment: a narrow ResNet-18 classifies the shape in `shapes/single_64`.

    python -m jvision.train --config experiments/pretrain_shapes.py --workdir runs/pretrain_shapes

10,000 64 px scenes, one object each (circle, square, triangle, star, hexagon, ellipse) on a real-photo
background; the label is the object's `objects/label`, and the image is the object-centred crop around its
box (`objects/bbox`), resized to 32 px. Measured: 0.926 test accuracy after 800 steps (196 s, 2-core CPU).
The trained weights stand in for "ImageNet weights" that we do not have: `experiments/finetune_digits.py`
exports them as a torchvision-named `.npz` and imports them like a downloaded file.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "shapes/single_64"
  config.data.train_split = "train"
  config.data.eval_split = "test"
  config.data.data_dir = ""  # Empty: $TFDS_DATA_DIR or TFDS's default.

  config.task = ml_collections.ConfigDict()
  config.task.name = "classification"
  config.task.num_classes = 6
  config.task.label_key = "objects/label"
  config.task.mean = (0.5,)
  config.task.std = (0.25,)
  config.task.crop_padding = 2
  config.task.flip = True
  config.task.label_smoothing = 0.0
  # Object-centred views, as ImageNet photographs are: each scene is cropped to the square around its object
  # (the box's longer side x 1.5) and resized to 32 px, the size of the digits it transfers to. On whole
  # 64 px scenes, where the object is one blob among a photograph's edges, 800 steps reached 0.22 test
  # accuracy (chance 0.17) and the features did not help the digits; object-centred, 0.93.
  config.task.image_size = 32
  config.task.box_key = "objects/bbox"
  config.task.box_context = 0.5

  config.model = ml_collections.ConfigDict()
  config.model.name = "resnet18"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.width = 16  # A quarter of torchvision's 64: minutes on a CPU.
  config.model.cifar_stem = False  # 7x7/2 stem and max-pool, as torchvision: 32 px -> 1x1 after layer4.

  config.batch_size = 64
  config.total_steps = 800  # ~5 epochs of the 10,000 scenes (about 3.5 minutes on an idle 2-core CPU).
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
