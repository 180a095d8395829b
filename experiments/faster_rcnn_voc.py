r"""The Faster R-CNN recipe for PASCAL VOC (needs the user's prepared ``voc`` TFDS data; nothing is downloaded).

    tfds build voc/2007 --file_format=array_record   # once, with the VOC archives available to TFDS
    python -m jvision.train --config experiments/faster_rcnn_voc.py --workdir runs/faster_rcnn_voc

Ren et al. 2015, section 4.1 (VOC 2007), in torchvision's ResNet-50-FPN form; derived from
``experiments/faster_rcnn_coco.py`` (same model, losses and sampling; data, input size, classes and schedule
differ): anchors of 3 aspect ratios (0.5, 1, 2) with one scale per pyramid level (32, 64, 128, 256 px on
P2-P5), RPN minibatches of 256 anchors (half positive, IoU 0.7 / 0.3), 2,000 proposals per training image and
1,000 at test after NMS at 0.7, 512 RoIs per image with 25% foreground, RoIAlign 7 x 7 on the RoI's level, two
fc layers of 1,024, per-class NMS at 0.5 keeping 100 detections, SGD with momentum 0.9, weight decay 1e-4,
learning rate 0.01 for a batch of 8 dropped 10x after 2/3 of training, horizontal flips; VOC07 11-point mAP
(``eval/VOC07_mAP``) on ``test``.

Differences, stated: square inputs of 608 px (longer side resized, then padded) instead of a shorter side of
600-800; no P6 level for 512 px anchors; the backbone starts from scratch unless ImageNet weights are loaded
into ``params/body/resnet`` (``jvision.models.weights``) and its batch norm is trained rather than frozen;
``train_split`` is VOC2007 trainval only (07+12 needs voc/2012 concatenated). RoIAlign is computed as dense
matrix products (``jvision.ops.roi``), costly on the 152 x 152 P2 map: expect an accelerator. The pipeline
(adapter, augmentation, targets, loss, evaluation) is tested with mock VOC records in
``tests/tasks/test_two_stage.py``.
"""

import ml_collections

from jvision import config as config_lib

_coco = config_lib.sibling_experiment(__file__, "faster_rcnn_coco.py")

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


def get_config() -> ml_collections.ConfigDict:
  config = _coco.get_config()
  config.data.name = "voc/2007"
  config.data.train_split = "train+validation"
  config.data.eval_split = "test"
  config.task.num_classes = len(VOC_CLASSES)  # The model's num_classes refers to it.
  config.task.class_names = VOC_CLASSES
  config.task.image_size = 608
  config.task.max_objects = 48
  config.batch_size = 8
  config.total_steps = 30_000
  config.optimizer.learning_rate = 0.01
  config.schedule.decay_steps = (20_000,)
  config.eval_every_steps = 5_000
  return config
