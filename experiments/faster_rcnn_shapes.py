r"""Faster R-CNN on the embedded ``shapes/multi`` dataset (1-6 shapes per 128 px image), trained on the CPU.

    TFDS_DATA_DIR=/tmp/tfds-det python -m jvision.train --config experiments/faster_rcnn_shapes.py \
        --workdir runs/faster_rcnn_shapes

Goal: VOC mAP@0.5 >= 0.95 and COCO AP >= 0.65 on the 1,000 test images. The workdir gets ``predictions.png``
at every evaluation. A small VGG-like backbone from scratch (widths 32, 64, 128; the RPN and the box head on
its stride-8 map, 16 x 16 cells at 128 px), anchors of 3 scales (16, 32, 64 px) x 3 ratios, 300 proposals per
training image and 100 at test, 128 RoIs sampled per image (25% foreground), RoIAlign 7 x 7, fc6/fc7 of 256.
``--config.model.fpn=true --config.model.feature_names='("c2", "c3")' --config.model.anchor_scales='(16., 48.)'``
switches to an FPN over strides 4 and 8 (one anchor scale per level).
Status: goals reached. One run on the shared 2-core CPU (batch 16, 2,000 steps; started with total_steps 2500
and resumed from its step-500 checkpoint with 2000, so the cosine schedule stepped down once there; about 67 min
of wall time in all): VOC mAP@0.5 0.961, COCO AP 0.815 (AP50 0.957), printed by
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
  config.task.name = "two_stage_detection"
  config.task.family = "faster_rcnn"
  config.task.dataset = config.data.get_ref("name")
  config.task.num_classes = len(shapes_scenes.CLASS_NAMES)
  config.task.class_names = shapes_scenes.CLASS_NAMES
  config.task.image_size = 128
  config.task.max_objects = 8
  config.task.augment = "flip"
  config.task.jitter = True
  config.task.rpn_samples = 256
  config.task.rpn_positive_fraction = 0.5

  config.model = ml_collections.ConfigDict()
  config.model.name = "faster_rcnn"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.image_size = config.task.get_ref("image_size")
  config.model.backbone = "simple"
  config.model.backbone_widths = (32, 64, 128)
  config.model.feature_names = ("c3",)
  config.model.fpn = False
  config.model.fpn_width = 128
  config.model.anchor_scales = (16.0, 32.0, 64.0)
  config.model.anchor_ratios = (0.5, 1.0, 2.0)
  config.model.rpn_width = 128
  config.model.rpn_pre_nms_top_n_train = 1000
  config.model.rpn_post_nms_top_n_train = 300
  config.model.rpn_pre_nms_top_n_test = 500
  config.model.rpn_post_nms_top_n_test = 100
  config.model.rpn_nms_threshold = 0.7
  config.model.roi_output_size = 7
  config.model.roi_samples = 128
  config.model.roi_positive_fraction = 0.25
  config.model.fpn_canonical_size = 64.0
  config.model.fpn_canonical_level = 3
  config.model.head_width = 256
  config.model.score_threshold = 0.05
  config.model.nms_threshold = 0.5
  config.model.max_detections = 100

  config.batch_size = 16
  config.total_steps = 2000
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 2e-3
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
