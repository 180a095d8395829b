"""A proposal cache per dataset split: selective search run once, stored next to the TFDS dataset.

R-CNN and Fast R-CNN (Girshick, ICCV 2015, sec. 2) train and test on precomputed proposals ("~2000 selective
search proposals per image"). ``compute_proposals`` runs ``selective_search`` over a split with a process pool
and writes one ``.npz`` file; ``load_proposals`` reads it back; ``Proposals.lookup`` gives an example's padded
proposals by the ``image_id`` the adapters and ``detection_pipeline`` carry; ``proposals_to_model_input``
applies the pipeline's ``resize_and_pad`` to them.

Where: ``{builder.data_dir}/proposals/{split}-selective_search-{mode}-min{min_size}-max{max_proposals}-seed{seed}
[-first{max_examples}].npz``, where ``builder.data_dir`` is the dataset's versioned TFDS directory (e.g.
``$TFDS_DATA_DIR/shapes/multi/1.0.0``), so another dataset version or other options never read a stale file.

What (all arrays, one row per example, in record order):
  boxes: int16 [N, P, 4], P = max_proposals: (x1, y1, x2, y2) pixel edges of the *original* image (before any
    resize), best ranked first, zero after ``counts[i]`` (selective search boxes have integer corners).
  counts: int32 [N]; image_ids: int64 [N], unique, what the dataset's adapter gives as ``image_id`` (shapes: its
  ``image_id`` feature, the generation index, which is not the record index: TFDS shuffles records; VOC: the
  digits of the file name); indices: int64 [N], the record index in the split; image_sizes: int32 [N, 2]
  (height, width); metadata: a JSON string (dataset, version, split, the selective search options, the time).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import multiprocessing
import os
import tempfile
import time
from typing import Callable, Optional

import numpy as np
import tqdm

from jvision.proposals.grouping import MODES, selective_search

_MAX_COORDINATE = np.iinfo(np.int16).max


@dataclasses.dataclass(frozen=True)
class Proposals:
  """Cached proposals of one split; see the module docstring for the fields."""
  boxes: np.ndarray
  counts: np.ndarray
  image_ids: np.ndarray
  indices: np.ndarray
  image_sizes: np.ndarray
  metadata: dict

  @property
  def max_proposals(self) -> int:
    return int(self.boxes.shape[1])

  @property
  def valid(self) -> np.ndarray:
    """bool [N, P]: True for real proposals, False for padding."""
    return np.arange(self.max_proposals) < self.counts[:, None]

  @functools.cached_property
  def _order(self) -> np.ndarray:
    return np.argsort(self.image_ids, kind="stable")

  def rows(self, image_ids) -> np.ndarray:
    """Row of each image id (any shape); KeyError naming the ids that are not in the cache."""
    image_ids = np.asarray(image_ids, np.int64)
    order = self._order
    position = np.clip(np.searchsorted(self.image_ids[order], image_ids), 0, len(order) - 1)
    rows = order[position]
    missing = self.image_ids[rows] != image_ids
    if np.any(missing):
      raise KeyError(f"image ids {np.unique(image_ids[missing])[:10].tolist()} have no cached proposals "
                     f"({len(self.image_ids)} examples cached: {self.metadata.get('dataset')} "
                     f"{self.metadata.get('split')}, max_examples={self.metadata.get('max_examples')})")
    return rows

  def lookup(self, image_ids) -> tuple[np.ndarray, np.ndarray]:
    """Proposals of examples by ``image_id``: float32 [..., P, 4] original-image pixels and valid [..., P]."""
    rows = self.rows(image_ids)
    return self.boxes[rows].astype(np.float32), np.arange(self.max_proposals) < self.counts[rows][..., None]


def proposals_to_model_input(boxes: np.ndarray, scale: np.ndarray) -> np.ndarray:
  """Maps proposals [..., P, 4] from original-image pixels to the pixels of ``resize_and_pad``'s output.

  ``scale`` is the example's ``scale`` (float32 [2] or [B, 2], (y, x) output pixels per input pixel, as
  ``box_transforms.resize_and_pad`` and ``detection_pipeline`` give it). Padding boxes (zeros) stay zero.
  """
  boxes = np.asarray(boxes, np.float32)
  scale = np.asarray(scale, np.float32)
  if boxes.shape[-1:] != (4,) or scale.shape[-1:] != (2,):
    raise ValueError(f"boxes must be [..., P, 4] and scale [..., 2], got {boxes.shape} and {scale.shape}")
  factors = scale[..., [1, 0, 1, 0]]
  return boxes * factors.reshape(factors.shape[:-1] + (1,) * (boxes.ndim - scale.ndim) + (4,))


def cache_path(dataset_dir: str, split: str, *, mode: str = "fast", max_proposals: int = 2000,
               min_size: int = 20, seed: int = 0, max_examples: Optional[int] = None) -> str:
  """The cache file of these options under the versioned dataset directory ``dataset_dir``."""
  name = f"{split}-selective_search-{mode}-min{min_size}-max{max_proposals}-seed{seed}"
  if max_examples is not None:
    name += f"-first{max_examples}"
  return os.path.join(dataset_dir, "proposals", name + ".npz")


# Worker state of the process pool (set once per worker by ``_start_worker``).
_WORKER: dict = {}


def _start_worker(source, adapter: Callable[..., dict], options: dict) -> None:
  _WORKER.update(source=source, adapter=adapter, options=options)


def _propose(index: int) -> tuple[int, int, tuple[int, int], np.ndarray]:
  example = _WORKER["adapter"](_WORKER["source"][index], index)
  image = example["image"]
  if max(image.shape[:2]) > _MAX_COORDINATE:
    raise ValueError(f"record {index}: image {image.shape[:2]} is too large for int16 proposal coordinates")
  boxes = selective_search(image, **_WORKER["options"])
  return index, int(example["image_id"]), image.shape[:2], boxes.astype(np.int16)


def write_proposals(source, adapter: Callable[..., dict], path: str, *, mode: str = "fast",
                    max_proposals: int = 2000, min_size: int = 20, seed: int = 0,
                    max_examples: Optional[int] = None, num_workers: int = 2,
                    metadata: Optional[dict] = None, progress: bool = True) -> str:
  """Selective search over the records of ``source`` (each adapted with ``adapter(record, index)``) into the
  ``.npz`` file ``path``; ``num_workers`` > 1 uses a "spawn" process pool. Returns ``path``."""
  if mode not in MODES:
    raise ValueError(f"unknown selective search mode {mode!r}; known: {', '.join(MODES)}")
  if max_examples is not None and max_examples < 1:
    raise ValueError(f"max_examples must be None or >= 1, got {max_examples}")
  if num_workers < 0:
    raise ValueError(f"num_workers must be >= 0, got {num_workers}")
  num_examples = len(source) if max_examples is None else min(max_examples, len(source))
  options = dict(mode=mode, max_proposals=max_proposals, min_size=min_size, seed=seed)
  boxes = np.zeros((num_examples, max_proposals, 4), np.int16)
  counts = np.zeros(num_examples, np.int32)
  image_ids = np.zeros(num_examples, np.int64)
  image_sizes = np.zeros((num_examples, 2), np.int32)
  start = time.perf_counter()
  bar = tqdm.tqdm(total=num_examples, desc=f"selective search ({mode})", unit="image", disable=not progress)

  def store(result):
    index, image_id, size, proposals = result
    boxes[index, :len(proposals)] = proposals
    counts[index], image_ids[index], image_sizes[index] = len(proposals), image_id, size
    bar.update(1)

  if num_workers <= 1:
    _start_worker(source, adapter, options)
    for index in range(num_examples):
      store(_propose(index))
  else:
    context = multiprocessing.get_context("spawn")
    with context.Pool(num_workers, initializer=_start_worker, initargs=(source, adapter, options)) as pool:
      for result in pool.imap(_propose, range(num_examples), chunksize=8):
        store(result)
  bar.close()
  seconds = time.perf_counter() - start
  duplicates = num_examples - len(np.unique(image_ids))
  if duplicates:
    raise ValueError(f"{duplicates} image ids repeat in {path}: proposals could not be looked up by image_id")
  metadata = dict(metadata or {}, **options, max_examples=max_examples, num_examples=num_examples,
                  seconds=round(seconds, 1), num_workers=num_workers)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  # Write to a temporary file and rename, so an interrupted run never leaves a truncated cache behind.
  handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".npz.tmp")
  with os.fdopen(handle, "wb") as file:
    np.savez_compressed(file, boxes=boxes, counts=counts, image_ids=image_ids,
                        indices=np.arange(num_examples, dtype=np.int64), image_sizes=image_sizes,
                        metadata=np.array(json.dumps(metadata)))
  os.chmod(temporary, 0o644)  # mkstemp makes the file private; a dataset cache is for every reader.
  os.replace(temporary, path)
  return path


def read_proposals(path: str) -> Proposals:
  """Reads a file written by ``write_proposals``."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"no proposal cache at {path}")
  with np.load(path) as data:
    missing = {"boxes", "counts", "image_ids", "indices", "image_sizes", "metadata"} - set(data.files)
    if missing:
      raise ValueError(f"{path} is not a proposal cache: it lacks {sorted(missing)}")
    return Proposals(boxes=data["boxes"], counts=data["counts"], image_ids=data["image_ids"],
                     indices=data["indices"], image_sizes=data["image_sizes"],
                     metadata=json.loads(str(data["metadata"])))


def _builder(dataset: str, data_dir: Optional[str], prepare: bool = False):
  """The TFDS builder of ``dataset``; ``prepare`` builds an embedded dataset first if it is not built yet."""
  import jvision.data  # Imported here: TFDS is slow to import.
  if prepare:
    jvision.data.prepare(dataset, data_dir)
  return jvision.data.get_builder(dataset, data_dir)


def compute_proposals(dataset: str, split: str, *, data_dir: Optional[str] = None, mode: str = "fast",
                      max_proposals: int = 2000, min_size: int = 20, seed: int = 0,
                      max_examples: Optional[int] = None, num_workers: int = 2, overwrite: bool = False,
                      progress: bool = True) -> str:
  """Computes (unless cached, or with ``overwrite``) the proposals of a TFDS split; returns the cache path.

  ``max_examples`` limits the run to the first records of the split (a subset with its own cache file).
  """
  from jvision.data import adapters
  builder = _builder(dataset, data_dir, prepare=True)
  options = dict(mode=mode, max_proposals=max_proposals, min_size=min_size, seed=seed)
  path = cache_path(builder.data_dir, split, max_examples=max_examples, **options)
  if os.path.exists(path) and not overwrite:
    return path
  source = builder.as_data_source(split=split)
  metadata = dict(dataset=dataset, version=str(builder.version), split=split)
  return write_proposals(source, adapters.get_adapter(dataset), path, max_examples=max_examples,
                         num_workers=num_workers, metadata=metadata, progress=progress, **options)


def load_proposals(dataset: str, split: str, *, data_dir: Optional[str] = None, mode: str = "fast",
                   max_proposals: int = 2000, min_size: int = 20, seed: int = 0,
                   max_examples: Optional[int] = None) -> Proposals:
  """The cached proposals of a TFDS split (computed by ``compute_proposals`` with the same options)."""
  builder = _builder(dataset, data_dir)
  path = cache_path(builder.data_dir, split, mode=mode, max_proposals=max_proposals, min_size=min_size,
                    seed=seed, max_examples=max_examples)
  if not os.path.exists(path):
    command = (f"python -m jvision.proposals --dataset {dataset} --split {split} --mode {mode} "
               f"--max_proposals {max_proposals} --min_size {min_size} --seed {seed}"
               + (f" --max_examples {max_examples}" if max_examples is not None else "")
               + (f" --data_dir {data_dir}" if data_dir else ""))
    raise FileNotFoundError(f"no cached proposals at {path}; compute them once with `{command}`")
  return read_proposals(path)
