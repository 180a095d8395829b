"""Attaches cached proposals to a random-access data source, so Fast R-CNN reads them like any other field.

Fast R-CNN (Girshick, ICCV 2015, sec. 2) trains and tests on precomputed proposals. ``with_proposals(source,
proposals, top_k)`` wraps a data source (``len`` and ``[i]``) so that each raw example gains ``proposals``
float32 [K, 4], the ``top_k`` best-ranked valid boxes of its cached selective search proposals, in pixels of the
original image, looked up by the example's ``image_id``. ``TwoStageDetectionTask(proposals="batch")`` scales,
flips and pads them. ``attach_cached_proposals`` does the same from a dataset name and a TFDS split, and is what
the trainer calls when ``config.data.proposals`` is set:

  config.data.train_split = "train[:4000]"  # the records cached with --max_examples 4000
  config.data.proposals = ml_collections.ConfigDict(dict(method="selective_search", top_k=300))
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from jvision.proposals.cache import Proposals, load_proposals

METHODS = ("selective_search",)


def _image_id_field(example: Mapping[str, Any], index: int) -> int:
  if "image_id" not in example:
    raise KeyError(f"record {index} has no 'image_id' field (it has: {', '.join(example)}); pass image_id=")
  return int(example["image_id"])


class ProposalSource:
  """Random-access view of ``source`` whose examples gain a ``proposals`` [K, 4] field; see ``with_proposals``."""

  def __init__(self, source: Sequence[Any], proposals: Proposals, top_k: Optional[int] = None,
               image_id: Callable[[Mapping[str, Any], int], int] = _image_id_field):
    if top_k is not None and top_k < 1:
      raise ValueError(f"top_k must be None or >= 1, got {top_k}")
    self.source = source
    self.proposals = proposals
    self.top_k = top_k
    self.image_id = image_id

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index: int) -> dict:
    example = dict(self.source[index])
    boxes, valid = self.proposals.lookup(self.image_id(example, index))  # KeyError for an uncached id.
    example["proposals"] = boxes[valid][:self.top_k]  # Cached best first: the first top_k are the best ranked.
    return example


def with_proposals(source: Sequence[Any], proposals: Proposals, top_k: Optional[int] = None,
                   image_id: Callable[[Mapping[str, Any], int], int] = _image_id_field) -> ProposalSource:
  """``source`` with each example's cached proposals (at most ``top_k``, best ranked) as ``proposals`` [K, 4].

  ``image_id(example, index) -> int`` gives the id the cache was keyed by (default: the ``image_id`` field);
  an example whose id is not cached raises ``KeyError`` when it is read.
  """
  return ProposalSource(source, proposals, top_k, image_id)


def parse_split(split: str) -> tuple[str, Optional[int]]:
  """``"train"`` -> ``("train", None)``; ``"train[:4000]"`` -> ``("train", 4000)``, the cache of the first
  4000 records (``python -m jvision.proposals ... --max_examples 4000``). Other slices have no cache."""
  match = re.fullmatch(r"\s*(\w+)\s*(?:\[\s*:\s*(\d+)\s*\])?\s*", split)
  if not match:
    raise ValueError(f"split {split!r} has no proposal cache: use a whole split ('train') or its first records "
                     "('train[:4000]', cached with --max_examples 4000)")
  name, count = match.groups()
  return name, None if count is None else int(count)


def attach_cached_proposals(source: Sequence[Any], dataset: str, split: str, *, data_dir: Optional[str] = None,
                            method: str = "selective_search", top_k: Optional[int] = None,
                            options: Optional[Mapping[str, Any]] = None) -> ProposalSource:
  """``with_proposals`` over the cache of ``dataset``/``split`` (``FileNotFoundError`` naming the command that
  computes a missing cache). ``options`` are ``load_proposals``'s selective search options (``mode``,
  ``max_proposals``, ``min_size``, ``seed``); image ids come from the dataset's adapter, as in the cache."""
  if method not in METHODS:
    raise ValueError(f"unknown proposal method {method!r}; known: {', '.join(METHODS)}")
  from jvision.data import adapters  # Imported here: the data package imports TFDS, which is slow.
  split_name, max_examples = parse_split(split)
  proposals = load_proposals(dataset, split_name, data_dir=data_dir, max_examples=max_examples, **(options or {}))
  if len(proposals.image_ids) < len(source):
    raise ValueError(f"{dataset} {split!r} has {len(source)} examples but its proposal cache only "
                     f"{len(proposals.image_ids)}: train on the cached records ('{split_name}[:"
                     f"{len(proposals.image_ids)}]') or cache the whole split")
  adapter = adapters.get_adapter(dataset)
  return with_proposals(source, proposals, top_k, image_id=lambda example, index: adapter(example, index)["image_id"])
