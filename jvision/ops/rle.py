"""COCO run-length encoding (RLE) of binary masks, and mask IoU computed on the runs (numpy, host side).

COCO stores an ``[H, W]`` mask as ``{"size": [H, W], "counts": ...}``: the lengths of alternating runs of 0s
and 1s over the pixels in column-major (Fortran) order, starting with a run of 0s (Lin et al., "Microsoft
COCO", ECCV 2014; the format of pycocotools' ``maskApi.c``). ``counts`` is either a list of ints
("uncompressed") or the compact string of ``rleToString``: each count minus the count two before it (from the
third on), in little-endian 5-bit groups with 0x20 meaning "another group follows", plus 48.

``RunLengthMasks`` holds many masks as the ``[start, end)`` intervals of their 1-runs in flat column-major
pixel index; ``pairwise_mask_iou`` gets the intersection of a detection and a ground truth from those
intervals without decoding either mask: the number of ground-truth pixels before flat index ``x`` is a
``searchsorted`` in the ground truth's intervals, and the intersection is the sum over the detection's
intervals of that count at the end minus at the start. The semantics are those of pycocotools' ``rleIou``:
intersection over union, or over the detection's area for a crowd ground truth, and 0 when they do not meet.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def compress_counts(counts: Sequence[int]) -> str:
  """COCO's compact string form of RLE counts (pycocotools' ``rleToString``)."""
  characters = []
  for i, count in enumerate(counts):
    value = int(count) - (int(counts[i - 2]) if i > 2 else 0)
    more = True
    while more:
      group = value & 0x1F
      value >>= 5  # Arithmetic shift: negative differences end in -1.
      more = value != -1 if group & 0x10 else value != 0
      characters.append(chr((group | 0x20 if more else group) + 48))
  return "".join(characters)


def _decompress_many(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """Counts of many compact strings at once (pycocotools' ``rleFrString``), vectorized over characters.

  Returns ``(counts, offsets)``: string ``i``'s counts are ``counts[offsets[i]:offsets[i + 1]]``.
  """
  lengths = np.fromiter((len(s) for s in strings), np.int64, len(strings))
  chars = np.frombuffer("".join(strings).encode("ascii"), np.uint8).astype(np.int64) - 48
  if np.any((chars < 0) | (chars > 63)):
    raise ValueError("RLE counts string has characters outside '0'..'o'; is it a COCO compressed RLE?")
  string_end = np.cumsum(lengths)
  ends_value = (chars & 0x20) == 0
  if np.any(~ends_value[string_end[lengths > 0] - 1]):
    raise ValueError("RLE counts string is truncated (its last character says more follow)")
  value_end = np.flatnonzero(ends_value)
  value_start = np.concatenate([[0], value_end[:-1] + 1])
  value_of_char = np.cumsum(np.concatenate([[0], ends_value[:-1]]))
  group = np.arange(len(chars)) - value_start[value_of_char]
  values = np.add.reduceat((chars & 0x1F) << (5 * group), value_start) if len(chars) else np.zeros(0, np.int64)
  negative = (chars[value_end] & 0x10) != 0
  values = values - np.where(negative, np.left_shift(1, 5 * (group[value_end] + 1)), 0)
  # Values per string, and each value's position m within its string.
  offsets = np.concatenate([[0], np.cumsum(ends_value)])[np.concatenate([[0], string_end])]
  string_of_value = np.repeat(np.arange(len(strings)), np.diff(offsets))
  position = np.arange(len(values)) - offsets[string_of_value]
  # From the third count on, a value is the difference to the count two before: a running sum per parity.
  counts = values.copy()
  for parity in (0, 1):
    chained = (position >= 1) & (position % 2 == parity)
    running = np.cumsum(np.where(chained, values, 0))
    before_string = np.concatenate([[0], running])[offsets[:-1]]
    counts[chained] = running[chained] - before_string[string_of_value[chained]]
  return counts, offsets


def decompress_counts(string: str | bytes) -> np.ndarray:
  """Counts of one compact RLE string, the inverse of ``compress_counts``."""
  if isinstance(string, bytes):
    string = string.decode("ascii")
  return _decompress_many([string])[0]


def mask_to_rle(mask: np.ndarray, compressed: bool = True) -> dict:
  """COCO RLE of a ``[H, W]`` mask (positive = foreground); ``counts`` is the compact string (what
  pycocotools' ``encode`` returns, as ``str``) or, with ``compressed=False``, a list of ints."""
  mask = np.asarray(mask)
  if mask.ndim != 2:
    raise ValueError(f"mask must be [H, W], got {mask.shape}")
  flat = (mask > 0).ravel(order="F").astype(np.int8)
  changes = np.nonzero(np.diff(flat))[0] + 1
  boundaries = np.concatenate([[0], changes, [flat.size]])
  counts = np.diff(boundaries).tolist()
  if flat.size and flat[0] == 1:
    counts = [0] + counts  # RLE always starts with a run of zeros.
  counts = [int(c) for c in counts]
  return {"size": [int(mask.shape[0]), int(mask.shape[1])],
          "counts": compress_counts(counts) if compressed else counts}


def rle_size(rle: Mapping[str, Any]) -> tuple[int, int]:
  """``(height, width)`` of an RLE dict, with an error naming what is wrong (polygons included)."""
  if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
    if isinstance(rle, (list, tuple)):
      raise ValueError("a polygon segmentation is not an RLE; rasterize it with the image size first: "
                       "jvision.ops.polygons.polygons_to_rle(polygons, height, width)")
    raise ValueError(f"an RLE must be a dict with 'size' [H, W] and 'counts'; got {type(rle).__name__}")
  size = tuple(int(s) for s in rle["size"])
  if len(size) != 2 or min(size) < 0:
    raise ValueError(f"RLE 'size' must be [height, width]; got {rle['size']}")
  return size


def rle_counts(rle: Mapping[str, Any]) -> np.ndarray:
  """The run lengths of an RLE dict with compressed (str/bytes) or uncompressed (list) counts."""
  rle_size(rle)
  counts = rle["counts"]
  if isinstance(counts, (str, bytes)):
    return decompress_counts(counts)
  return np.asarray(counts, np.int64).reshape(-1)


def rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
  """``[H, W]`` bool mask of an RLE dict (compressed or uncompressed counts)."""
  height, width = rle_size(rle)
  counts = rle_counts(rle)
  if np.any(counts < 0) or counts.sum() != height * width:
    raise ValueError(f"RLE counts must be >= 0 and sum to H * W = {height * width}; got sum {counts.sum()}")
  flat = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
  return flat.reshape(width, height).T


class RunLengthMasks:
  """Many masks as the ``[start, end)`` flat column-major intervals of their 1-runs.

  Attributes: ``heights``, ``widths``, ``areas`` ``[N]``; ``starts``, ``ends`` ``[T]``; ``offsets`` ``[N + 1]``
  (mask ``i``'s runs are ``offsets[i]:offsets[i + 1]``, in increasing order).
  """

  def __init__(self, heights, widths, starts, ends, offsets):
    self.heights = np.asarray(heights, np.int64)
    self.widths = np.asarray(widths, np.int64)
    self.starts = np.asarray(starts, np.int64)
    self.ends = np.asarray(ends, np.int64)
    self.offsets = np.asarray(offsets, np.int64)
    lengths = self.ends - self.starts
    per_mask = np.concatenate([[0], np.cumsum(lengths)])
    self.areas = per_mask[self.offsets[1:]] - per_mask[self.offsets[:-1]]

  def __len__(self) -> int:
    return len(self.heights)

  @classmethod
  def from_rles(cls, rles: Sequence[Mapping[str, Any]], what: str = "segmentation") -> "RunLengthMasks":
    """From RLE dicts; compressed strings of all masks are decoded together. ``what`` names them in errors."""
    sizes = np.zeros((len(rles), 2), np.int64)
    compressed, compressed_index, uncompressed, uncompressed_index = [], [], [], []
    for i, rle in enumerate(rles):
      try:
        sizes[i] = rle_size(rle)
      except ValueError as error:
        raise ValueError(f"{what} {i}: {error}") from None
      counts = rle["counts"]
      if isinstance(counts, (str, bytes)):
        compressed.append(counts.decode("ascii") if isinstance(counts, bytes) else counts)
        compressed_index.append(i)
      else:
        uncompressed.append(np.asarray(counts, np.int64).reshape(-1))
        uncompressed_index.append(i)
    per_mask: list[Any] = [None] * len(rles)
    if compressed:
      counts, offsets = _decompress_many(compressed)
      for i, lo, hi in zip(compressed_index, offsets[:-1], offsets[1:]):
        per_mask[i] = counts[lo:hi]
    for i, counts in zip(uncompressed_index, uncompressed):
      per_mask[i] = counts
    num_counts = np.fromiter((len(c) for c in per_mask), np.int64, len(rles))
    counts = np.concatenate(per_mask) if len(rles) else np.zeros(0, np.int64)
    mask_of_count = np.repeat(np.arange(len(rles)), num_counts)
    count_offsets = np.concatenate([[0], np.cumsum(num_counts)])
    position = np.arange(len(counts)) - count_offsets[mask_of_count]
    running = np.cumsum(counts)
    before_mask = np.concatenate([[0], running])[count_offsets[:-1]]
    ends = running - before_mask[mask_of_count]
    totals = np.concatenate([[0], running])[count_offsets[1:]] - before_mask
    bad = (totals != sizes[:, 0] * sizes[:, 1]) | (np.bincount(mask_of_count, counts < 0, len(rles)) > 0)
    if np.any(bad):
      i = int(np.flatnonzero(bad)[0])
      raise ValueError(f"{what} {i}: RLE counts must be >= 0 and sum to H * W = {sizes[i].prod()} for size "
                       f"{sizes[i].tolist()}; they sum to {totals[i]}")
    ones = (position % 2 == 1) & (counts > 0)
    run_offsets = np.concatenate([[0], np.cumsum(np.bincount(mask_of_count[ones], minlength=len(rles)))])
    return cls(sizes[:, 0], sizes[:, 1], ends[ones] - counts[ones], ends[ones], run_offsets)


def _pixels_before(masks: RunLengthMasks, mask_index, flat_index):
  """Number of mask ``mask_index``'s pixels with flat index < ``flat_index`` (elementwise).

  One ``searchsorted`` over every mask's runs at once: run starts are keyed by ``mask * stride + start`` with a
  stride larger than any mask, so the last run at or before ``(mask, flat_index)`` is found in one call; it
  belongs to ``mask`` unless the mask has no run before that index.
  """
  if len(masks.starts) == 0:
    return np.zeros(len(mask_index), np.int64)
  stride = int((masks.heights * masks.widths).max()) + 1
  run_of_mask = np.repeat(np.arange(len(masks)), np.diff(masks.offsets))
  lengths = masks.ends - masks.starts
  cumulative = np.concatenate([[0], np.cumsum(lengths)])
  before_run = cumulative[:-1] - cumulative[masks.offsets[:-1]][run_of_mask]
  run = np.searchsorted(run_of_mask * stride + masks.starts, mask_index * stride + flat_index, side="right") - 1
  inside = run >= masks.offsets[mask_index]
  run = np.maximum(run, 0)
  return np.where(inside, before_run[run] + np.clip(flat_index - masks.starts[run], 0, lengths[run]), 0)


def pairwise_mask_intersection(det_masks: RunLengthMasks, det_index, gt_masks: RunLengthMasks, gt_index,
                               chunk: int = 1 << 22) -> np.ndarray:
  """``[E]`` pixel counts of ``det_masks[det_index] & gt_masks[gt_index]`` (elementwise pairs)."""
  det_index = np.asarray(det_index, np.int64)
  gt_index = np.asarray(gt_index, np.int64)
  if len(det_index) == 0:
    return np.zeros(0, np.int64)
  runs_per_entry = np.diff(det_masks.offsets)[det_index]
  result = np.zeros(len(det_index), np.int64)
  # Entries in chunks of about ``chunk`` detection runs, to bound memory.
  cumulative = np.cumsum(runs_per_entry)
  cuts = np.searchsorted(cumulative, np.arange(chunk, cumulative[-1], chunk), side="left")
  cuts = np.unique(np.concatenate([[0], cuts, [len(det_index)]]))
  for lo, hi in zip(cuts[:-1], cuts[1:]):
    counts = runs_per_entry[lo:hi]
    entry = np.repeat(np.arange(lo, hi), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    run = det_masks.offsets[det_index[entry]] + np.arange(len(entry)) - first[entry - lo]
    gts = gt_index[entry]
    covered = (_pixels_before(gt_masks, gts, det_masks.ends[run])
               - _pixels_before(gt_masks, gts, det_masks.starts[run]))
    result[lo:hi] = np.bincount(entry - lo, covered, minlength=hi - lo).astype(np.int64)
  return result


def pairwise_mask_iou(det_masks: RunLengthMasks, det_index, gt_masks: RunLengthMasks, gt_index,
                      gt_crowd) -> np.ndarray:
  """``[E]`` mask IoU of elementwise (detection, ground truth) pairs, pycocotools' ``rleIou`` semantics.

  For a crowd ground truth (``gt_crowd [E]``) the union is the detection's area. Pairs of masks of different
  sizes are an error (pycocotools silently gives them IoU -1).
  """
  det_index = np.asarray(det_index, np.int64)
  gt_index = np.asarray(gt_index, np.int64)
  mismatch = ((det_masks.heights[det_index] != gt_masks.heights[gt_index])
              | (det_masks.widths[det_index] != gt_masks.widths[gt_index]))
  if np.any(mismatch):
    e = int(np.flatnonzero(mismatch)[0])
    d, g = det_index[e], gt_index[e]
    raise ValueError(f"a detection mask of size {[int(det_masks.heights[d]), int(det_masks.widths[d])]} is compared "
                     f"with a ground-truth mask of size {[int(gt_masks.heights[g]), int(gt_masks.widths[g])]} on "
                     "the same image")
  intersection = pairwise_mask_intersection(det_masks, det_index, gt_masks, gt_index).astype(np.float64)
  det_area = det_masks.areas[det_index].astype(np.float64)
  union = np.where(gt_crowd, det_area, det_area + gt_masks.areas[gt_index] - intersection)
  return np.where(intersection > 0, intersection / np.where(intersection > 0, union, 1.0), 0.0)
