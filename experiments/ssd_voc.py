r"""The SSD recipe for PASCAL VOC (needs the user's prepared ``voc`` TFDS data; nothing is downloaded).

    tfds build voc/2007 --file_format=array_record   # once, with the VOC archives available to TFDS
    python -m jvision.train --config experiments/ssd_voc.py --workdir runs/ssd_voc

Liu et al. 2016, section 3 (SSD300 on VOC): SGD with momentum 0.9 and weight decay 5e-4, learning rate 1e-3
for 80k iterations then 1e-4 and 1e-5 (to 120k), batch 32, the SSD data augmentation (photometric
distortions, zoom-out, IoU-constrained crops, flips), matching at IoU 0.5 with 3:1 hard-negative mining,
default boxes with ratios {1, 2, 3, 1/2, 1/3} and scales 0.1 .. 0.9, NMS at 0.45 keeping the top 200; VOC07
11-point mAP (``eval/VOC07_mAP``) on ``test``.

Differences from the paper, stated: the base is ``jvision.models.ssd``'s VGG-like stack at VGG-16 widths (two
convolutions per stage, not VGG-16 with ImageNet weights and its dilated fc6/fc7), the input is 320 px (the
model needs a multiple of its stride 16, giving maps 20, 10, 5, 3, 2, 1), and ``train_split`` is VOC2007
trainval only: "07+12" needs voc/2012 trainval concatenated, which the trainer's single ``data.name`` does not
express. The pipeline (adapter, augmentation, targets, loss) is tested with mock data in
``tests/tasks/test_ssd_voc.py``.
"""

import ml_collections

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "voc/2007"
  config.data.train_split = "train+validation"
  config.data.eval_split = "test"
  config.data.data_dir = ""  # Empty: $TFDS_DATA_DIR or TFDS's default.

  config.task = ml_collections.ConfigDict()
  config.task.name = "detection"
  config.task.family = "ssd"
  config.task.dataset = config.data.get_ref("name")
  config.task.num_classes = len(VOC_CLASSES)
  config.task.class_names = VOC_CLASSES
  config.task.image_size = 320
  config.task.max_objects = 48
  config.task.augment = "ssd"
  config.task.jitter = True
  config.task.neg_pos_ratio = 3.0
  config.task.iou_threshold = 0.5

  config.model = ml_collections.ConfigDict()
  config.model.name = "ssd"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.image_size = config.task.get_ref("image_size")
  config.model.base_widths = (64, 128, 256, 512)
  config.model.extra_width = 512
  config.model.aspect_ratios = (2.0, 3.0)
  config.model.min_scale = 0.1
  config.model.max_scale = 0.9
  config.model.score_threshold = 0.01
  config.model.iou_threshold = 0.45
  config.model.top_k = 200
  config.model.max_detections = 200

  config.batch_size = 32
  config.total_steps = 120_000
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "momentum"
  config.optimizer.learning_rate = 1e-3
  config.optimizer.weight_decay = 5e-4
  config.optimizer.momentum = 0.9
  config.optimizer.grad_clip_norm = 0.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "step"
  config.schedule.warmup_steps = 500
  config.schedule.decay_steps = (80_000, 100_000)
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 100
  config.eval_every_steps = 10_000
  config.eval_batch_size = 64
  config.checkpoint_every_steps = 2_000
  config.keep_checkpoints = 3
  config.async_checkpoints = True
  return config
