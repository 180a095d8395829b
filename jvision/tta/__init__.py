"""Test-time augmentation in JAX: transforms with inverses, merge modes, and model wrappers.

What ttach offers (github.com/qubvel/ttach), with all augmentations of a batch in one jitted
call, merge modes that are defined for negative logits, and detection with NMS or weighted box fusion.

    tta = jvision.tta.ClassificationTTA(lambda v, x: model.apply(v, x), jvision.tta.d4_transform(), "mean")
    logits = tta(variables, images)
"""

from jvision.tta.box_fusion import class_aware_nms, weighted_boxes_fusion
from jvision.tta.merge_modes import MERGE_MODES, merge
from jvision.tta.transforms import (Add, Compose, FiveCrops, HorizontalFlip, Multiply, Resize, Rotate90, Scale,
                                    Transform, VerticalFlip, d4_transform, five_crop_transform, flip_transform,
                                    hflip_transform, multiscale_transform, ten_crop_transform)
from jvision.tta.wrappers import ClassificationTTA, DetectionTTA, KeypointsTTA, SegmentationTTA, run_augmented
