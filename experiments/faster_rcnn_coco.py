r"""The Faster R-CNN recipe for COCO 2017 (needs the user's prepared ``coco/2017`` TFDS data; nothing is downloaded).

    tfds build coco/2017 --file_format=array_record   # once, with the COCO archives available to TFDS
    python -m jvision.train --config experiments/faster_rcnn_coco.py --workdir runs/faster_rcnn_coco

torchvision's ``fasterrcnn_resnet50_fpn`` "1x" schedule (Ren et al. 2015 with the FPN of Lin et al. 2017):
ResNet-50-FPN, anchors of 3 aspect ratios (0.5, 1, 2) with one scale per pyramid level (32, 64, 128, 256 px on
P2-P5), RPN minibatches of 256 anchors (half positive, IoU 0.7 / 0.3), 2,000 proposals per training image and
1,000 at test after NMS at 0.7, 512 RoIs per image with 25% foreground, RoIAlign 7 x 7 on the RoI's level, two
fc layers of 1,024, per-class NMS at 0.5 keeping 100 detections; SGD with momentum 0.9, weight decay 1e-4,
learning rate 0.02 for a batch of 16, 90k iterations with 10x drops at 60k and 80k, horizontal flips; COCO AP
(``eval/AP``) on ``validation``.

Differences, stated: square inputs of 800 px (longer side resized, then padded) instead of a shorter side of
800 capped at 1,333; no P6 level for 512 px anchors; the backbone starts from scratch unless ImageNet weights
are loaded into ``params/body/resnet`` (``jvision.models.weights``) and its batch norm is trained rather than
frozen. RoIAlign is computed as dense matrix products (``jvision.ops.roi``), costly on the 200 x 200 P2 map:
expect accelerators. The pipeline (adapter, crowd handling, targets, loss, evaluation) is tested with mock COCO
records in ``tests/tasks/test_two_stage.py``.
"""

import ml_collections

NUM_CLASSES = 80  # TFDS coco/2017 labels 0..79 (class names: the dataset info of the user's build).


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "coco/2017"
  config.data.train_split = "train"
  config.data.eval_split = "validation"
  config.data.data_dir = ""  # Empty: $TFDS_DATA_DIR or TFDS's default.

  config.task = ml_collections.ConfigDict()
  config.task.name = "two_stage_detection"
  config.task.family = "faster_rcnn"
  config.task.dataset = config.data.get_ref("name")
  config.task.num_classes = NUM_CLASSES
  config.task.image_size = 800
  config.task.max_objects = 100
  config.task.augment = "flip"
  config.task.jitter = False
  config.task.rpn_samples = 256
  config.task.rpn_positive_fraction = 0.5

  config.model = ml_collections.ConfigDict()
  config.model.name = "faster_rcnn"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.image_size = config.task.get_ref("image_size")
  config.model.backbone = "resnet50"
  config.model.backbone_widths = ()
  config.model.feature_names = ("c2", "c3", "c4", "c5")
  config.model.fpn = True
  config.model.fpn_width = 256
  config.model.anchor_scales = (32.0, 64.0, 128.0, 256.0)
  config.model.anchor_ratios = (0.5, 1.0, 2.0)
  config.model.rpn_width = 256
  config.model.rpn_pre_nms_top_n_train = 2000
  config.model.rpn_post_nms_top_n_train = 2000
  config.model.rpn_pre_nms_top_n_test = 1000
  config.model.rpn_post_nms_top_n_test = 1000
  config.model.rpn_nms_threshold = 0.7
  config.model.roi_output_size = 7
  config.model.roi_samples = 512
  config.model.roi_positive_fraction = 0.25
  config.model.fpn_canonical_size = 224.0
  config.model.fpn_canonical_level = 4
  config.model.head_width = 1024
  config.model.score_threshold = 0.05
  config.model.nms_threshold = 0.5
  config.model.max_detections = 100

  config.batch_size = 16
  config.total_steps = 90_000
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "momentum"
  config.optimizer.learning_rate = 0.02
  config.optimizer.weight_decay = 1e-4
  config.optimizer.momentum = 0.9
  config.optimizer.grad_clip_norm = 0.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "step"
  config.schedule.warmup_steps = 500
  config.schedule.decay_steps = (60_000, 80_000)
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 100
  config.eval_every_steps = 10_000
  config.eval_batch_size = 8
  config.checkpoint_every_steps = 1_000
  config.keep_checkpoints = 2
  config.async_checkpoints = True
  return config
