"""Adapters from TFDS datasets to one common example format for detection, segmentation and image-text tasks.

An adapter turns one decoded TFDS example (as ``tfds.data_source`` returns it) into the common *raw* format:
  image: uint8 [H, W, 3].
  boxes: float32 [n, 4], (x1, y1, x2, y2) in pixels of ``image`` (pixel edges, see ``box_transforms``).
  labels: int32 [n], 0-based class ids of the dataset's ``objects/label`` ClassLabel.
  is_crowd: bool [n]; COCO crowd regions, and VOC "difficult" objects, which evaluators ignore.
  instance_masks: uint8 [n, H, W] (``with_masks=True``; datasets that have them).
  segmentation: uint8 [H, W], 0 background, class id + 1 on objects, 255 ignore (``with_segmentation=True``).
  captions: list of str (image-text datasets; shapes has one caption).
  image_id: int, the dataset's image id (COCO ``image/id``, digits of the VOC file name, shapes ``image_id``),
    else the record index.
``detection_pipeline`` then augments, resizes, normalises and pads this to static shapes (``image`` float32
[S, S, 3], ``boxes`` [max_objects, 4], ``labels`` [max_objects] with -1 padding, ``valid`` bool ...).

What TFDS 4.9.10 provides, and so what each adapter can give:
  shapes/*: boxes, instance masks, semantic segmentation, caption.
  voc/2007, voc/2012: boxes only; TFDS's ``voc`` has no segmentation masks, so ``with_segmentation`` or
    ``with_masks`` is an error that says so.
  coco/2017 (and other ``coco`` detection configs): boxes, crowd flags; no masks in TFDS's ``coco``.
  coco/2017_panoptic: boxes, instance masks and semantic segmentation (133 thing and stuff classes, label + 1;
    COCO's unlabelled pixels are 255) decoded from the panoptic PNG (segment id = R + 256 G + 256^2 B).
  oxford_iiit_pet: one object (the pet: box of its trimap, label = breed) and the trimap as segmentation
    (0 background, 1 pet, 255 the unclassified border), or ``label + 1`` for the pet with ``breed_classes=True``.
  coco_captions: the five captions and the COCO boxes.

Malformed examples raise ``ValueError`` naming the dataset, the record and the problem: object fields of
different lengths, a box outside [0, 1] or with max < min, a mask whose size differs from the image, a
non-uint8 image. An empty object list is allowed and gives an image with no objects.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

import numpy as np

from jvision.data import box_transforms

IGNORE_LABEL = box_transforms.IGNORE_LABEL


def _context(dataset: str, index: Optional[int]) -> str:
  return f"{dataset} record {index}" if index is not None else dataset


def _image(example: dict, where: str) -> np.ndarray:
  image = np.asarray(example["image"])
  if image.dtype != np.uint8:
    raise ValueError(f"{where}: image must be uint8, got {image.dtype}")
  if image.ndim == 3 and image.shape[2] == 1:
    image = np.repeat(image, 3, axis=2)  # Some VOC/COCO pictures are grey.
  if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
    raise ValueError(f"{where}: image must be [H, W, 3], got {image.shape}")
  return image


def _objects(objects: dict, keys: tuple[str, ...], where: str) -> dict:
  """The per-object arrays, checked to have one common length."""
  arrays = {key: np.asarray(objects[key]) for key in keys}
  lengths = {key: len(value) for key, value in arrays.items()}
  if len(set(lengths.values())) > 1:
    raise ValueError(f"{where}: objects fields have different lengths {lengths}")
  return arrays


def _tfds_boxes_to_pixels(bbox: np.ndarray, height: int, width: int, where: str) -> np.ndarray:
  """TFDS (ymin, xmin, ymax, xmax) in [0, 1] -> (x1, y1, x2, y2) pixels, after checking the values."""
  bbox = np.asarray(bbox, np.float32).reshape(-1, 4)
  if not np.all(np.isfinite(bbox)):
    raise ValueError(f"{where}: bbox has NaN or infinite values")
  if bbox.size and (bbox.min() < 0 or bbox.max() > 1):
    bad = int(np.nonzero(np.any((bbox < 0) | (bbox > 1), axis=1))[0][0])
    raise ValueError(f"{where}: bbox {bad} {bbox[bad].tolist()} lies outside the image (normalised [0, 1])")
  bad = np.nonzero((bbox[:, 2] < bbox[:, 0]) | (bbox[:, 3] < bbox[:, 1]))[0]
  if bad.size:
    raise ValueError(f"{where}: bbox {int(bad[0])} {bbox[bad[0]].tolist()} has ymax < ymin or xmax < xmin")
  return bbox[:, [1, 0, 3, 2]] * np.array([width, height, width, height], np.float32)


def _image_id(example: dict, index: Optional[int], filename_key: str = "image/filename") -> int:
  if "image/id" in example:
    return int(example["image/id"])
  if "image_id" in example:
    return int(example["image_id"])
  filename = example.get(filename_key)
  if isinstance(filename, bytes):
    filename = filename.decode()
  digits = re.sub(r"\D", "", str(filename or "").rsplit("/", 1)[-1].split(".")[0])
  if digits:
    return int(digits)
  return -1 if index is None else int(index)


def _no_masks(dataset: str, with_masks: bool, with_segmentation: bool):
  if with_masks or with_segmentation:
    raise ValueError(f"TFDS's {dataset} has no {'instance masks' if with_masks else 'segmentation masks'}; "
                     "use shapes/multi, oxford_iiit_pet (segmentation) or prepare your own masks")


def _strings(values) -> list[str]:
  return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)]


def adapt_shapes(example: dict, index: Optional[int] = None, *, with_masks: bool = False,
                 with_segmentation: bool = False) -> dict:
  """``shapes/*`` (jvision.data.shapes) -> common format."""
  where = _context("shapes", index)
  image = _image(example, where)
  height, width = image.shape[:2]
  keys = ("bbox", "label", "is_crowd") + (("mask",) if with_masks else ())
  objects = _objects(example["objects"], keys, where)
  out = {
      "image": image,
      "boxes": _tfds_boxes_to_pixels(objects["bbox"], height, width, where),
      "labels": objects["label"].astype(np.int32),
      "is_crowd": objects["is_crowd"].astype(bool),
      "captions": _strings([example["caption"]]),
      "image_id": _image_id(example, index),
  }
  if with_masks:
    masks = objects["mask"].reshape((-1,) + objects["mask"].shape[1:3])
    if masks.shape[1:] != (height, width):
      raise ValueError(f"{where}: instance masks are {masks.shape[1:]}, image is {(height, width)}")
    out["instance_masks"] = masks.astype(np.uint8)
  if with_segmentation:
    out["segmentation"] = _segmentation(example["segmentation_mask"], height, width, where)
  return out


def _segmentation(mask, height: int, width: int, where: str) -> np.ndarray:
  mask = np.asarray(mask)
  if mask.ndim == 3 and mask.shape[2] == 1:
    mask = mask[..., 0]
  if mask.shape != (height, width):
    raise ValueError(f"{where}: segmentation mask is {mask.shape}, image is {(height, width)}")
  if not np.issubdtype(mask.dtype, np.integer):
    raise ValueError(f"{where}: segmentation mask must be integer, got {mask.dtype}")
  return mask.astype(np.uint8)


def adapt_voc(example: dict, index: Optional[int] = None, *, with_masks: bool = False,
              with_segmentation: bool = False) -> dict:
  """``voc/2007``, ``voc/2012`` -> common format. Difficult objects are kept with ``is_crowd=True``."""
  _no_masks("voc", with_masks, with_segmentation)
  where = _context("voc", index)
  image = _image(example, where)
  objects = _objects(example["objects"], ("bbox", "label", "is_difficult"), where)
  return {
      "image": image,
      "boxes": _tfds_boxes_to_pixels(objects["bbox"], *image.shape[:2], where),
      "labels": objects["label"].astype(np.int32),
      "is_crowd": objects["is_difficult"].astype(bool),
      "image_id": _image_id(example, index),
  }


def adapt_coco(example: dict, index: Optional[int] = None, *, with_masks: bool = False,
               with_segmentation: bool = False) -> dict:
  """``coco/2017`` (detection configs) -> common format; crowd regions keep ``is_crowd=True``."""
  _no_masks("coco", with_masks, with_segmentation)
  where = _context("coco", index)
  image = _image(example, where)
  objects = _objects(example["objects"], ("bbox", "label", "is_crowd"), where)
  return {
      "image": image,
      "boxes": _tfds_boxes_to_pixels(objects["bbox"], *image.shape[:2], where),
      "labels": objects["label"].astype(np.int32),
      "is_crowd": objects["is_crowd"].astype(bool),
      "image_id": _image_id(example, index),
  }


def adapt_coco_panoptic(example: dict, index: Optional[int] = None, *, with_masks: bool = False,
                        with_segmentation: bool = False) -> dict:
  """``coco/2017_panoptic`` -> common format, with masks decoded from the panoptic segment-id picture."""
  where = _context("coco/2017_panoptic", index)
  image = _image(example, where)
  height, width = image.shape[:2]
  objects = _objects(example["panoptic_objects"], ("bbox", "label", "is_crowd", "id"), where)
  out = {
      "image": image,
      "boxes": _tfds_boxes_to_pixels(objects["bbox"], height, width, where),
      "labels": objects["label"].astype(np.int32),
      "is_crowd": objects["is_crowd"].astype(bool),
      "image_id": _image_id(example, index),
  }
  if with_masks or with_segmentation:
    panoptic = np.asarray(example["panoptic_image"])
    if panoptic.shape != (height, width, 3):
      raise ValueError(f"{where}: panoptic image is {panoptic.shape}, image is {(height, width, 3)}")
    segment_ids = panoptic.astype(np.int64) @ np.array([1, 256, 256 ** 2], np.int64)
    masks = segment_ids[None] == objects["id"].astype(np.int64)[:, None, None]
    if with_masks:
      out["instance_masks"] = masks.astype(np.uint8)
    if with_segmentation:
      segmentation = np.full((height, width), IGNORE_LABEL, np.uint8)
      for label, mask in zip(out["labels"], masks):
        segmentation[mask] = label + 1
      out["segmentation"] = segmentation
  return out


def adapt_coco_captions(example: dict, index: Optional[int] = None, *, with_masks: bool = False,
                        with_segmentation: bool = False) -> dict:
  """``coco_captions`` -> common format with ``captions`` (all of them; the pipeline picks one)."""
  out = adapt_coco(example, index, with_masks=with_masks, with_segmentation=with_segmentation)
  captions = _strings(example["captions"]["text"])
  if not captions:
    raise ValueError(f"{_context('coco_captions', index)}: the example has no captions")
  out["captions"] = captions
  return out


def adapt_oxford_iiit_pet(example: dict, index: Optional[int] = None, *, with_masks: bool = False,
                          with_segmentation: bool = False, breed_classes: bool = False) -> dict:
  """``oxford_iiit_pet`` -> one object (the pet) and its trimap as segmentation.

  The trimap (1 pet, 2 background, 3 border) becomes 1 (or breed + 1), 0 and 255 (ignore). The pet's box is
  the box of its pet and border pixels; an example whose trimap has no pet pixels has no objects.
  """
  where = _context("oxford_iiit_pet", index)
  image = _image(example, where)
  height, width = image.shape[:2]
  trimap = _segmentation(example["segmentation_mask"], height, width, where)
  if trimap.size and (trimap.min() < 1 or trimap.max() > 3):
    raise ValueError(f"{where}: trimap values must be 1, 2 or 3, got range [{trimap.min()}, {trimap.max()}]")
  label = int(example["label"])
  pet = trimap != 2
  boxes = box_transforms.boxes_from_masks(pet[None])[:1] if pet.any() else np.zeros((0, 4), np.float32)
  n = len(boxes)
  out = {
      "image": image,
      "boxes": boxes,
      "labels": np.full((n,), label, np.int32),
      "is_crowd": np.zeros((n,), bool),
      "image_id": _image_id(example, index, filename_key="file_name"),
  }
  if with_masks:
    out["instance_masks"] = pet[None].astype(np.uint8)[:n]
  if with_segmentation:
    foreground = label + 1 if breed_classes else 1
    out["segmentation"] = np.select([trimap == 1, trimap == 2], [foreground, 0], IGNORE_LABEL).astype(np.uint8)
  return out


# TFDS dataset name, "name/config" first, then "name" -> adapter.
ADAPTERS: dict[str, Callable[..., dict]] = {
    "shapes": adapt_shapes,
    "voc": adapt_voc,
    "coco": adapt_coco,
    "coco/2017_panoptic": adapt_coco_panoptic,
    "coco_captions": adapt_coco_captions,
    "oxford_iiit_pet": adapt_oxford_iiit_pet,
}


def class_names(info) -> list[str]:
  """The names of the 0-based ``labels`` an adapter returns, from a ``tfds.core.DatasetInfo``
  (``builder.info`` or ``source.dataset_info``). Segmentation class k + 1 is ``class_names[k]``."""
  features = info.features
  for key in ("objects", "panoptic_objects"):
    if key in features:
      return list(features[key]["label"].names)
  if "label" in features:  # oxford_iiit_pet: the breed.
    return list(features["label"].names)
  raise ValueError(f"{info.full_name}: no objects/label or label feature to take class names from")


def get_adapter(name: str) -> Callable[..., dict]:
  """The adapter for a TFDS name such as ``"voc/2007"`` or ``"shapes/multi"``."""
  if name in ADAPTERS:
    return ADAPTERS[name]
  base = name.split("/", 1)[0]
  if base not in ADAPTERS:
    raise KeyError(f"no adapter for dataset {name!r}; known: {', '.join(sorted(ADAPTERS))}")
  return ADAPTERS[base]
