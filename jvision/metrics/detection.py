"""Detection metrics: COCO AP/AR, PASCAL VOC AP, and a streaming evaluator fed by padded batches."""

from jvision.metrics.coco import coco_evaluate

__all__ = ["coco_evaluate"]
