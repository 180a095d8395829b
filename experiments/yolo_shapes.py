r"""YOLO v1 on the embedded ``shapes/multi`` dataset (1-6 shapes per 128 px image), trained at 96 px on the CPU.

    TFDS_DATA_DIR=/tmp/tfds-det python -m jvision.train --config experiments/yolo_shapes.py \
        --workdir runs/yolo_shapes

Goal: VOC mAP@0.5 >= 0.85 on the 1,000 test images. The workdir gets ``predictions.png`` at every evaluation.
A 12 x 12 grid (stride 8, so few objects share a cell), two predictors per cell, flips and photometric jitter.
Status: 2,000 steps (23 min on the shared 2-core CPU) reach the goal; print the numbers with
``experiments/benchmarks/detection_models.py``.
"""

import ml_collections

from jvision.data import shapes_scenes


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "shapes/multi"
  config.data.train_split = "train"
  config.data.eval_split = "test"
  config.data.data_dir = ""  # Empty: $TFDS_DATA_DIR or TFDS's default.

  config.task = ml_collections.ConfigDict()
  config.task.name = "detection"
  config.task.family = "yolo"
  config.task.dataset = config.data.get_ref("name")
  config.task.num_classes = len(shapes_scenes.CLASS_NAMES)
  config.task.class_names = shapes_scenes.CLASS_NAMES
  config.task.image_size = 96
  config.task.max_objects = 8
  config.task.augment = "flip"
  config.task.jitter = True
  config.task.lambda_coord = 5.0
  config.task.lambda_noobj = 0.5

  config.model = ml_collections.ConfigDict()
  config.model.name = "yolo"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.image_size = config.task.get_ref("image_size")
  config.model.num_boxes = 2
  config.model.base_widths = (16, 32, 64)
  config.model.head_width = 128
  config.model.head_convs = 2
  config.model.score_threshold = 0.005
  config.model.iou_threshold = 0.5
  config.model.top_k = 300
  config.model.max_detections = 100

  config.batch_size = 32
  config.total_steps = 2000
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 3e-3
  config.optimizer.weight_decay = 1e-4
  config.optimizer.momentum = 0.9
  config.optimizer.grad_clip_norm = 10.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"
  config.schedule.warmup_steps = 100
  config.schedule.decay_steps = ()
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 50
  config.eval_every_steps = 1000
  config.eval_batch_size = 100
  config.checkpoint_every_steps = 500
  config.keep_checkpoints = 2
  config.async_checkpoints = True
  return config
