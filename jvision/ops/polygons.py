"""COCO polygon segmentations rasterized to run-length counts exactly as pycocotools does (numpy, host side).

COCO stores most instance outlines as polygons ``[[x0, y0, x1, y1, ...], ...]`` (one list per connected part)
and pycocotools turns them into masks with ``frPyObjects`` + ``merge`` (``maskApi.c``'s ``rleFrPoly``). Mask AP
depends on that exact rasterization, so it is reproduced here step by step (vectorized over edges and points):

1. vertices are scaled by 5 and rounded (``(int)(5 v + 0.5)``, truncating toward zero);
2. every edge is walked one unit at a time along its longer axis, the other coordinate rounded the same way;
3. wherever the walk changes column, a boundary point is kept if that column is the centre of an image column
   (``(u + 0.5) / 5 - 0.5`` integral, within the image); its row is the smaller of the two rows, mapped back
   and rounded up (clamped to ``[0, H]``);
4. the boundary points, as column-major flat indices, sorted, are the places where the mask toggles; coinciding
   points cancel (as the C code merges zero-length runs).

Several parts are united. Each part needs at least three vertices (pycocotools reads a first part of four
numbers as a box, and then fails on it).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

SCALE = 5.0


def _c_int(values):
  """C's ``(int)`` of a double: truncation toward zero."""
  return np.trunc(values).astype(np.int64)


def polygon_counts(polygon: Sequence[float], height: int, width: int) -> np.ndarray:
  """RLE counts of one polygon ``[x0, y0, x1, y1, ...]`` on an ``height x width`` image (``rleFrPoly``)."""
  xy = np.asarray(polygon, np.float64).reshape(-1)
  k = len(xy) // 2
  if k == 0:
    raise ValueError("a polygon needs at least one (x, y) vertex")
  x = _c_int(SCALE * xy[0:2 * k:2] + 0.5)
  y = _c_int(SCALE * xy[1:2 * k:2] + 0.5)
  xs, ys, xe, ye = x, y, np.roll(x, -1), np.roll(y, -1)
  dx, dy = np.abs(xe - xs), np.abs(ye - ys)
  along_x = dx >= dy
  flip = (along_x & (xs > xe)) | (~along_x & (ys > ye))
  xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
  ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
  steps = np.where(along_x, dx, dy)
  # Slope of the minor axis; a zero-length edge yields one point whose minor coordinate never matters.
  slope = np.where(along_x, (ye - ys) / np.maximum(dx, 1), (xe - xs) / np.maximum(dy, 1))
  edge = np.repeat(np.arange(k), steps + 1)
  d = np.arange(len(edge)) - np.repeat(np.cumsum(steps + 1) - (steps + 1), steps + 1)
  t = np.where(flip[edge], steps[edge] - d, d)
  minor_start = np.where(along_x, ys, xs)[edge]
  minor = _c_int(minor_start + slope[edge] * t + 0.5)
  major = t + np.where(along_x, xs, ys)[edge]
  u = np.where(along_x[edge], major, minor)
  v = np.where(along_x[edge], minor, major)

  changes = np.flatnonzero(u[1:] != u[:-1]) + 1
  xd = np.where(u[changes] < u[changes - 1], u[changes], u[changes] - 1).astype(np.float64)
  xd = (xd + 0.5) / SCALE - 0.5
  kept = (np.floor(xd) == xd) & (xd >= 0) & (xd <= width - 1)
  yd = np.minimum(v[changes], v[changes - 1]).astype(np.float64)
  yd = (yd + 0.5) / SCALE - 0.5
  yd = np.ceil(np.clip(yd, 0, height))
  toggles = np.sort(np.concatenate([(xd[kept] * height + yd[kept]).astype(np.int64), [height * width]]))
  runs = np.diff(np.concatenate([[0], toggles]))
  # Merge as the C code does: a zero run after the first drops out, and after an odd number of zeros in a row
  # the next run is added to the previous one instead of starting a new one.
  zero = runs == 0
  zero[0] = False
  positions = np.arange(len(runs))
  zero_run_start = zero & ~np.concatenate([[False], zero[:-1]])
  offset_in_run = positions - np.maximum.accumulate(np.where(zero_run_start, positions, 0))
  odd_zero_run_end = zero & ~np.concatenate([zero[1:], [False]]) & (offset_in_run % 2 == 0)
  merged = np.concatenate([[False], odd_zero_run_end[:-1]])
  kept_runs = ~zero
  group = np.cumsum(kept_runs & ~merged) - 1
  return np.bincount(group[kept_runs], runs[kept_runs]).astype(np.int64)


def polygons_to_rle(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
  """Uncompressed RLE dict of the union of COCO polygons (``merge(frPyObjects(polygons, h, w))``)."""
  if not isinstance(polygons, (list, tuple)) or not polygons:
    raise ValueError(f"polygons must be a non-empty list of [x0, y0, x1, y1, ...] lists, got {polygons!r}")
  for polygon in polygons:
    if len(polygon) < 6 or len(polygon) % 2:
      # pycocotools reads a first part of 4 numbers as a box and then fails; odd lengths are a truncated vertex.
      raise ValueError(f"each polygon part must be [x0, y0, x1, y1, x2, y2, ...] with at least 3 vertices; got "
                       f"{len(polygon)} numbers")
  starts, ends = [], []
  for polygon in polygons:
    counts = polygon_counts(polygon, height, width)
    boundaries = np.cumsum(counts)
    starts.append(boundaries[0:-1:2])
    ends.append(boundaries[1::2])
  starts, ends = np.concatenate(starts), np.concatenate(ends)
  # Union of [start, end) intervals: sweep the sorted +1/-1 events and keep where the coverage is positive.
  events = np.concatenate([starts, ends])
  delta = np.concatenate([np.ones(len(starts), np.int64), -np.ones(len(ends), np.int64)])
  order = np.lexsort((-delta, events))  # at equal positions, open before close: touching intervals join
  events, coverage = events[order], np.cumsum(delta[order])
  opened = (coverage == 1) & (delta[order] == 1) & (np.concatenate([[0], coverage[:-1]]) == 0)
  closed = coverage == 0
  boundaries = np.sort(np.concatenate([events[opened], events[closed]]))
  counts = np.diff(np.concatenate([[0], boundaries, [height * width]]))
  return {"size": [int(height), int(width)], "counts": counts.tolist()}
