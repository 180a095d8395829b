"""grain pipelines for detection, segmentation and image-text data: source -> adapter -> augment -> batch.

``make_dataset`` builds a ``grain.MapDataset``: the random-access source (``tfds.data_source``), each record
adapted to the common format (``jvision.data.adapters``; the record index is passed for ``image_id``), an
optional seeded shuffle, ``num_epochs`` repetitions, the example transform with a per-record random generator
(grain's ``random_map``: the same seed gives the same augmentations, record by record), and batching.
``make_transform`` builds that example transform from plain arguments (see ``box_transforms``).

One example after the transform (all arrays numpy, static shapes):
  image: float32 [S, S, 3], normalised ((x - mean) / std); the bottom/right padding is black before
    normalisation (so -mean / std after).
  boxes: float32 [max_objects, 4], (x1, y1, x2, y2) in pixels of ``image``; 0 for padding.
  labels: int32 [max_objects], 0-based class ids; -1 for padding.
  valid: bool [max_objects]; is_crowd: bool [max_objects] (crowd / VOC difficult; dropped in training).
  instance_masks: uint8 [max_objects, S, S] (``with_masks``).
  segmentation: uint8 [S, S], 0 background, class + 1, 255 ignore (padding too) (``with_segmentation``).
  caption_tokens: int32 [caption_length] (UTF-8 bytes + 1, 0 pad) with ``caption_length`` > 0, else caption:
    str (datasets with captions; training picks one of an image's captions at random, eval the first).
  scale: float32 [2], (y, x) output pixels per pixel of the original image (to map predictions back).
  image_id: int64.
A batch stacks these along a new leading axis [B, ...].

To prepare batches in worker processes: ``dataset.to_iter_dataset().mp_prefetch(
grain.MultiprocessingOptions(num_workers=N))`` (grain reads absl flags: run under ``absl.app.run`` or call
``absl.flags.FLAGS.mark_as_parsed()`` first).
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import grain
import numpy as np

from jvision.data import adapters
from jvision.data import box_transforms as bt
from jvision.data import data_source

AUGMENTATIONS = ("none", "flip", "crop", "ssd", "object", "background", "part")


def tokenize_bytes(text: str, length: int) -> np.ndarray:
  """UTF-8 bytes + 1 (0 is padding), truncated or zero-padded to ``length``: a vocabulary-free tokenizer."""
  tokens = np.frombuffer(text.encode("utf-8"), np.uint8)[:length].astype(np.int32) + 1
  return np.pad(tokens, (0, length - len(tokens)))


def _geometric_augmentation(example: dict, rng: np.random.Generator, augment: str) -> dict:
  if augment == "ssd":
    if rng.random() < 0.5:
      example = bt.zoom_out(example, rng)
    example = bt.random_iou_crop(example, rng)
  elif augment == "crop":
    example = bt.random_crop(example, rng)
  elif augment == "object":
    example = bt.random_object_crop(example, rng)
  elif augment == "background":
    example = bt.random_background_crop(example, rng)
  elif augment == "part":
    example = bt.random_part_crop(example, rng)
  if augment in ("ssd", "crop", "object", "background", "part"):
    example = bt.tighten_boxes_to_masks(example)
  if augment != "none":
    example = bt.random_horizontal_flip(example, rng)
  return example


def transform_example(example: dict, rng: np.random.Generator, *, train: bool, image_size: int,
                      max_objects: int, augment: str = "ssd", jitter: bool = True, mean=bt.IMAGENET_MEAN,
                      std=bt.IMAGENET_STD, caption_length: int = 0, min_box_size: float = 1.0) -> dict:
  """One adapted example -> the fixed-shape training/eval example described in the module docstring."""
  example = bt.validate(example, where=f"image_id {example.get('image_id')}")
  example = bt.to_float(example)
  if train:
    if "is_crowd" in example:
      example = bt.select_objects(example, ~np.asarray(example["is_crowd"], bool))
    if jitter:
      example = bt.photometric_jitter(example, rng)
    example = _geometric_augmentation(example, rng, augment)
  example = bt.resize_and_pad(example, image_size)
  if train:
    example = bt.drop_small_objects(example, min_box_size)
  example = bt.normalize(example, mean, std)
  if "is_crowd" not in example:
    example["is_crowd"] = np.zeros(bt.num_objects(example), bool)
  example = bt.pad_objects(example, max_objects)
  captions = example.pop("captions", None)
  if captions is not None:
    caption = captions[int(rng.integers(len(captions)))] if train else captions[0]
    if caption_length:  # Only arrays, so that the whole batch can go through jax.jit.
      example["caption_tokens"] = tokenize_bytes(caption, caption_length)
    else:
      example["caption"] = caption
  example["image_id"] = np.int64(example["image_id"])
  if "segmentation" in example:
    example["segmentation"] = example["segmentation"].astype(np.uint8)
  return example


def make_transform(*, train: bool, image_size: int, max_objects: int, augment: str = "ssd",
                   jitter: bool = True, mean=bt.IMAGENET_MEAN, std=bt.IMAGENET_STD, caption_length: int = 0,
                   min_box_size: float = 1.0) -> Callable[[dict, np.random.Generator], dict]:
  """``transform_example`` with its options bound (picklable, for grain worker processes)."""
  if augment not in AUGMENTATIONS:
    raise ValueError(f"unknown augment {augment!r}; known: {', '.join(AUGMENTATIONS)}")
  if image_size <= 0 or max_objects <= 0:
    raise ValueError(f"image_size and max_objects must be positive, got {image_size}, {max_objects}")
  return functools.partial(transform_example, train=train, image_size=image_size, max_objects=max_objects,
                           augment=augment, jitter=jitter, mean=mean, std=std, caption_length=caption_length,
                           min_box_size=min_box_size)


def _adapt(index: int, example: dict, adapter: Callable[..., dict], options: dict) -> dict:
  return adapter(example, index, **options)


def make_dataset(source, adapter: Callable[..., dict], transform: Callable[[dict, np.random.Generator], dict],
                 *, batch_size: int, seed: int = 0, shuffle: bool = True, num_epochs: Optional[int] = 1,
                 drop_remainder: bool = True, with_masks: bool = False, with_segmentation: bool = False,
                 adapter_options: Optional[dict] = None) -> grain.MapDataset:
  """source -> adapt -> shuffle(seed) -> repeat(num_epochs; None = forever) -> transform(rng) -> batch."""
  if batch_size <= 0:
    raise ValueError(f"batch_size must be positive, got {batch_size}")
  options = dict(with_masks=with_masks, with_segmentation=with_segmentation, **(adapter_options or {}))
  dataset = grain.MapDataset.source(source)
  dataset = dataset.map_with_index(functools.partial(_adapt, adapter=adapter, options=options))
  if shuffle:
    dataset = dataset.shuffle(seed=seed)
  if num_epochs != 1:
    dataset = dataset.repeat(num_epochs)
  dataset = dataset.random_map(transform, seed=seed)
  return dataset.batch(batch_size, drop_remainder=drop_remainder)


def make_loader(name: str, split: str, *, train: bool, batch_size: int, image_size: int, max_objects: int,
                seed: int = 0, num_epochs: Optional[int] = 1, data_dir: Optional[str] = None,
                with_masks: bool = False, with_segmentation: bool = False, augment: str = "ssd",
                caption_length: int = 0, adapter_options: Optional[dict] = None) -> grain.MapDataset:
  """The whole pipeline for a TFDS name, e.g. ``make_loader("shapes/multi", "train", train=True, ...)``."""
  source = data_source(name, split, data_dir=data_dir)
  transform = make_transform(train=train, image_size=image_size, max_objects=max_objects,
                             augment=augment if train else "none", caption_length=caption_length)
  return make_dataset(source, adapters.get_adapter(name), transform, batch_size=batch_size, seed=seed,
                      shuffle=train, num_epochs=num_epochs, drop_remainder=train, with_masks=with_masks,
                      with_segmentation=with_segmentation, adapter_options=adapter_options)
