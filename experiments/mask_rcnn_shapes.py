r"""Mask R-CNN on ``shapes/multi``: experiments/faster_rcnn_shapes.py plus the mask branch, fine-tuned from it.

    TFDS_DATA_DIR=/tmp/tfds-det python -m jvision.train --config experiments/mask_rcnn_shapes.py \
        --workdir runs/mask_rcnn_shapes --config.finetune.checkpoint=runs/faster_rcnn_shapes

The model is the Faster R-CNN of faster_rcnn_shapes.py with ``mask_head=True``: RoIAlign 14 x 14 on its stride-8
map, four 3 x 3 convolutions of 64 channels (256 in the paper; the shapes are simple and the CPU is small),
a 2x upsampling to 28 x 28 and one mask per class, trained on up to 16 foreground RoIs per image. The task
loads the instance masks, adds the mask loss as a fifth loss and reports COCO mask AP (``mask_AP``) next to
the box AP, with every detection's mask pasted into the 128 px image. ``finetune.checkpoint`` names a trained
faster_rcnn_shapes workdir: every variable but the new ``mask_branch`` starts from its latest checkpoint (an
empty value trains everything from scratch, which needs the 2,000 steps of faster_rcnn_shapes.py or more).
Measured once on the shared 2-core CPU, fine-tuned from the 2,000-step faster_rcnn_shapes run of the README
(batch 16, 600 steps; started with total_steps 1000 and resumed from its step-100 checkpoint with 600, so the
cosine schedule stepped down once there; about 63 min of wall time in all, 40.5 min for steps 100-600 with
two evaluations): box COCO AP 0.825 (VOC mAP@0.5 0.968), mask (segm) AP 0.760, mask AP50 0.949, printed by
``experiments/benchmarks/detection_models.py``.
"""

import ml_collections

from jvision import config as config_lib

_base = config_lib.sibling_experiment(__file__, "faster_rcnn_shapes.py")


def get_config() -> ml_collections.ConfigDict:
  config = _base.get_config()
  config.task.masks = True
  config.model.mask_head = config.task.get_ref("masks")
  config.model.mask_roi_size = 14
  config.model.mask_head_width = 64
  config.model.mask_rois_per_image = 16
  config.finetune = ml_collections.ConfigDict()
  config.finetune.checkpoint = ""  # A faster_rcnn_shapes.py workdir; empty: train from scratch.
  config.finetune.new_modules = ("mask_branch",)
  config.total_steps = 600
  config.optimizer.learning_rate = 1e-3
  config.schedule.warmup_steps = 50
  config.eval_every_steps = 300
  config.eval_batch_size = 20  # Each image's 100 detections carry 28 x 28 x 6 mask logits.
  config.checkpoint_every_steps = 100
  return config
