"""Export examples and predictions to the COCO dataset-dict format, for pycocotools / ``coco_evaluate``.

Ground truth: ``to_coco_dataset`` takes examples in the adapters' common raw format (pixel (x1, y1, x2, y2)
boxes, 0-based labels, optional uint8 instance masks) and returns the dict that ``pycocotools.coco.COCO``
holds after loading an annotation file: ``images``, ``annotations`` (``bbox`` as [x, y, w, h], ``area``,
``iscrowd``, and ``segmentation`` as uncompressed RLE when masks are given) and ``categories``. Category ids
are ``label + 1`` (COCO's ids start at 1); ``predictions_to_coco`` uses the same mapping for detections.

Areas are mask pixel counts when masks are given (as the shapes dataset's ``objects/area``), else box areas.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from jvision.data import adapters
from jvision.data import shapes_scenes
from jvision.ops.rle import compress_counts, mask_to_rle  # noqa: F401 (re-exported)


def _xywh(box: np.ndarray) -> list[float]:
  x1, y1, x2, y2 = (float(v) for v in box)
  return [x1, y1, x2 - x1, y2 - y1]


def to_coco_dataset(examples: Iterable[dict], class_names: Sequence[str]) -> dict:
  """COCO ground-truth dict from common-format examples (``image``, ``boxes``, ``labels``, ``image_id``, and
  optionally ``is_crowd`` and ``instance_masks``)."""
  images, annotations = [], []
  seen_ids = set()
  for example in examples:
    image_id = int(example["image_id"])
    if image_id in seen_ids:
      raise ValueError(f"image_id {image_id} appears twice; COCO needs unique image ids")
    seen_ids.add(image_id)
    height, width = example["image"].shape[:2]
    images.append({"id": image_id, "width": int(width), "height": int(height),
                   "file_name": f"{image_id}.png"})
    boxes = np.asarray(example["boxes"], np.float32).reshape(-1, 4)
    labels = np.asarray(example["labels"])
    is_crowd = np.asarray(example.get("is_crowd", np.zeros(len(labels), bool)))
    masks = example.get("instance_masks")
    for i, (box, label) in enumerate(zip(boxes, labels)):
      if not 0 <= label < len(class_names):
        raise ValueError(f"image {image_id}: label {label} is not a class id (0..{len(class_names) - 1})")
      annotation = {"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label) + 1,
                    "bbox": _xywh(box), "iscrowd": int(is_crowd[i])}
      if masks is not None:
        annotation["segmentation"] = mask_to_rle(masks[i])
        annotation["area"] = float(np.count_nonzero(masks[i]))
      else:
        annotation["area"] = float((box[2] - box[0]) * (box[3] - box[1]))
      annotations.append(annotation)
  categories = [{"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(class_names)]
  return {"info": {"description": "jvision export"}, "images": images, "annotations": annotations,
          "categories": categories}


def predictions_to_coco(image_ids: np.ndarray, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                        valid: Optional[np.ndarray] = None, masks: Optional[np.ndarray] = None,
                        scale: Optional[np.ndarray] = None) -> list[dict]:
  """Detections [B, K, ...] (padded, ``valid`` [B, K]) -> COCO result list for ``COCO.loadRes``.

  ``scale`` [B, 2] (y, x), the pipeline's resize factor, maps boxes back to the original image pixels.
  """
  boxes = np.asarray(boxes, np.float32)
  if boxes.ndim != 3 or boxes.shape[-1] != 4:
    raise ValueError(f"boxes must be [B, K, 4], got {boxes.shape}")
  valid = np.ones(boxes.shape[:2], bool) if valid is None else np.asarray(valid, bool)
  results = []
  for b, image_id in enumerate(np.asarray(image_ids)):
    factor = np.ones(4, np.float32) if scale is None else np.asarray(scale[b], np.float32)[[1, 0, 1, 0]]
    for k in np.nonzero(valid[b])[0]:
      score = float(scores[b][k])
      if not np.isfinite(score) or not np.all(np.isfinite(boxes[b, k])):
        raise ValueError(f"image {int(image_id)}: detection {k} has a non-finite box or score")
      result = {"image_id": int(image_id), "category_id": int(labels[b][k]) + 1,
                "bbox": _xywh(boxes[b, k] / factor), "score": score}
      if masks is not None:
        result["segmentation"] = mask_to_rle(masks[b][k])
      results.append(result)
  return results


def shapes_to_coco(source, indices: Optional[Iterable[int]] = None) -> dict:
  """COCO ground truth (boxes and instance masks) for a ``shapes`` data source, e.g.
  ``shapes_to_coco(jvision.data.data_source("shapes/multi", "test"))``."""
  indices = range(len(source)) if indices is None else indices
  examples = (adapters.adapt_shapes(source[i], i, with_masks=True) for i in indices)
  return to_coco_dataset(examples, shapes_scenes.CLASS_NAMES)
