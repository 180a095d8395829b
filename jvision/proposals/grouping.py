"""Selective search: class-agnostic object proposals by hierarchical grouping of superpixels.

Uijlings, van de Sande, Gevers and Smeulders, "Selective Search for Object Recognition", IJCV 2013:
  - Initial regions (sec. 3.1): the graph-based segmentation of Felzenszwalb and Huttenlocher (IJCV 2004),
    here ``skimage.segmentation.felzenszwalb`` run on the image in the strategy's colour space (sigma 0.8).
  - Hierarchical grouping (sec. 3.1, Algorithm 1): repeatedly merge the two most similar neighbouring regions
    until one region is left; every region of the hierarchy (the initial ones included) is a proposal.
  - Similarity (sec. 3.2): ``s = a1 s_colour + a2 s_texture + a3 s_size + a4 s_fill`` with a_k in {0, 1}.
    s_colour: intersection of L1-normalised colour histograms (25 bins per channel, 75 in all);
    s_texture: intersection of L1-normalised texture histograms (Gaussian derivatives, sigma 1, in 8
      orientations per channel, 10 bins each: 240 in all);
    s_size = 1 - (size_i + size_j) / size(image): small regions merge first;
    s_fill = 1 - (size(BB_ij) - size_i - size_j) / size(image), BB_ij the box around both: regions that fill
      each other's gaps merge first.
    A merged region's histograms are the size-weighted average of its parts', its size the sum, its box the
    union, so nothing is recomputed from pixels.
  - Diversification (sec. 3.2; settings of sec. 5): ``"fast"`` is "Selective Search Fast": colour spaces HSV
    and Lab, k in {50, 100}, similarities C+T+S+F and T+S+F (8 hierarchies); ``"single"`` is one hierarchy
    (HSV, k = 100, C+T+S+F).
  - Ranking (sec. 3.3, "Combining Locations"): in hierarchy j the region created at position i (i = 1 is the
    whole image, the last one created) gets the value ``v = RND * i`` with RND uniform in [0, 1]; all
    proposals are sorted by v and lower-ranked duplicate boxes dropped. RND comes from ``seed``, so the result
    is deterministic.

The texture measurement, as read here: per colour channel, the Gaussian derivatives ``gx, gy`` (sigma 1); the
derivative in direction theta is ``cos(theta) gx + sin(theta) gy`` for theta = 0, 45, ..., 315 degrees and its
positive part is histogrammed in 10 equal bins over [0, the channel's largest gradient magnitude in the image].

Boxes are (x1, y1, x2, y2) in pixel *edges* of the input image (a region on columns 3..5 has x1 = 3, x2 = 6),
the convention of ``jvision.data.box_transforms``.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Sequence

import numpy as np
from scipy import ndimage
from skimage import color, segmentation

COLOUR_BINS = 25
TEXTURE_BINS = 10
TEXTURE_ORIENTATIONS = 8
FELZENSZWALB_SIGMA = 0.8
COLOUR_SPACES = ("rgb", "hsv", "lab")
SIMILARITY_TERMS = ("colour", "texture", "size", "fill")


@dataclasses.dataclass(frozen=True)
class Strategy:
  """One hierarchy: a colour space, Felzenszwalb's k and the similarity terms that are switched on."""
  colour_space: str
  k: float
  terms: tuple[str, ...]


_ALL = ("colour", "texture", "size", "fill")
_NO_COLOUR = ("texture", "size", "fill")
MODES = {
    "single": (Strategy("hsv", 100, _ALL),),
    "fast": tuple(Strategy(space, k, terms) for space in ("hsv", "lab") for k in (50, 100)
                  for terms in (_ALL, _NO_COLOUR)),
}


# ------------------------------------------------------------------------------------------ measurements


def to_colour_space(image: np.ndarray, colour_space: str) -> np.ndarray:
  """uint8 RGB [H, W, 3] -> float32 [H, W, 3] in [0, 1] in ``colour_space`` ("rgb", "hsv" or "lab").

  Lab is scaled as L / 100 and (a + 128) / 255, (b + 128) / 255 so that every channel spans [0, 1] like the
  others (Felzenszwalb's k and the histogram bins then mean the same in every space).
  """
  rgb = image.astype(np.float32) / 255.0
  if colour_space == "rgb":
    out = rgb
  elif colour_space == "hsv":
    out = color.rgb2hsv(rgb)
  elif colour_space == "lab":
    lab = color.rgb2lab(rgb)
    out = np.stack([lab[..., 0] / 100.0, (lab[..., 1] + 128.0) / 255.0, (lab[..., 2] + 128.0) / 255.0], -1)
  else:
    raise ValueError(f"unknown colour space {colour_space!r}; known: {', '.join(COLOUR_SPACES)}")
  return np.clip(out, 0.0, 1.0).astype(np.float32)


def colour_bins(image: np.ndarray) -> np.ndarray:
  """Histogram bin of every pixel and channel: int [H * W, 3] with values c * 25 + bin (75 bins in all)."""
  bins = np.minimum((image.reshape(-1, 3) * COLOUR_BINS).astype(np.int64), COLOUR_BINS - 1)
  return bins + np.arange(3) * COLOUR_BINS


def texture_bins(image: np.ndarray) -> np.ndarray:
  """Texture bin of every pixel, channel and orientation: int [H * W, 24], values (c * 8 + o) * 10 + bin."""
  height, width, channels = image.shape
  angles = np.arange(TEXTURE_ORIENTATIONS) * (2 * np.pi / TEXTURE_ORIENTATIONS)
  per_channel = []
  for c in range(channels):
    gy = ndimage.gaussian_filter(image[..., c], 1.0, order=(1, 0))
    gx = ndimage.gaussian_filter(image[..., c], 1.0, order=(0, 1))
    directional = np.maximum(gx[..., None] * np.cos(angles, dtype=np.float32)
                             + gy[..., None] * np.sin(angles, dtype=np.float32), 0.0)
    largest = float(np.sqrt(gx * gx + gy * gy).max())
    scaled = directional * (TEXTURE_BINS / largest) if largest > 0 else np.zeros_like(directional)
    per_channel.append(np.minimum(scaled.astype(np.int64), TEXTURE_BINS - 1))
  bins = np.stack(per_channel, axis=2).reshape(height * width, channels * TEXTURE_ORIENTATIONS)
  return bins + np.arange(channels * TEXTURE_ORIENTATIONS) * TEXTURE_BINS


def region_histograms(labels: np.ndarray, pixel_bins: np.ndarray, num_bins: int) -> np.ndarray:
  """L1-normalised histograms float64 [n, num_bins] of the n regions of ``labels`` (int [H, W], 0..n-1).

  ``pixel_bins`` int [H * W, m] gives m bin indices per pixel (one per channel, or channel x orientation).
  """
  num_regions = int(labels.max()) + 1
  index = labels.reshape(-1, 1).astype(np.int64) * num_bins + pixel_bins
  counts = np.bincount(index.ravel(), minlength=num_regions * num_bins).reshape(num_regions, num_bins)
  return counts / counts.sum(axis=1, keepdims=True)


def region_boxes(labels: np.ndarray) -> np.ndarray:
  """Pixel-edge boxes float64 [n, 4] (x1, y1, x2, y2) of the regions of ``labels`` (int [H, W], 0..n-1)."""
  slices = ndimage.find_objects(labels + 1)
  return np.array([(cols.start, rows.start, cols.stop, rows.stop) for rows, cols in slices], np.float64)


def adjacent_pairs(labels: np.ndarray) -> np.ndarray:
  """Pairs int [m, 2] (i < j) of regions that touch, 8-connected like Felzenszwalb's pixel graph."""
  num_regions = int(labels.max()) + 1
  neighbours = [(labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :]),
                (labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])]
  a = np.concatenate([first.ravel() for first, _ in neighbours]).astype(np.int64)
  b = np.concatenate([second.ravel() for _, second in neighbours]).astype(np.int64)
  different = a != b
  low, high = np.minimum(a, b)[different], np.maximum(a, b)[different]
  keys = np.unique(low * num_regions + high)
  return np.stack([keys // num_regions, keys % num_regions], axis=1)


def histogram_intersection(hist_a: np.ndarray, hist_b: np.ndarray) -> np.ndarray:
  """``sum_k min(a_k, b_k)`` over the last axis: s_colour and s_texture (sec. 3.2)."""
  return np.minimum(hist_a, hist_b).sum(axis=-1)


def size_similarity(size_a, size_b, image_size: float):
  """s_size = ``1 - (size_a + size_b) / size(image)`` (sec. 3.2)."""
  return 1.0 - (np.asarray(size_a) + np.asarray(size_b)) / image_size


def fill_similarity(box_a, box_b, size_a, size_b, image_size: float):
  """s_fill = ``1 - (size(BB_ab) - size_a - size_b) / size(image)``, BB_ab the box around both (sec. 3.2)."""
  box_a, box_b = np.asarray(box_a, np.float64), np.asarray(box_b, np.float64)
  width = np.maximum(box_a[..., 2], box_b[..., 2]) - np.minimum(box_a[..., 0], box_b[..., 0])
  height = np.maximum(box_a[..., 3], box_b[..., 3]) - np.minimum(box_a[..., 1], box_b[..., 1])
  return 1.0 - (width * height - np.asarray(size_a) - np.asarray(size_b)) / image_size


# ------------------------------------------------------------------------------------------------ grouping


def hierarchical_grouping(labels: np.ndarray, colour_pixel_bins: np.ndarray, texture_pixel_bins: np.ndarray,
                          terms: Sequence[str] = SIMILARITY_TERMS) -> np.ndarray:
  """Algorithm 1 of the paper: the boxes float64 [2n - 1, 4] of every region of the hierarchy.

  Rows 0..n-1 are the initial regions of ``labels`` (int [H, W], every value in 0..n-1 present), row n + t
  the region created by merge t; the last row is the whole image. A label map whose regions do not all touch
  gives fewer rows (grouping stops when no neighbouring pair is left).

  ``colour_pixel_bins`` / ``texture_pixel_bins`` are ``colour_bins`` / ``texture_bins`` of the image.
  """
  unknown = set(terms) - set(SIMILARITY_TERMS)
  if unknown or not terms:
    raise ValueError(f"similarity terms must be a non-empty subset of {SIMILARITY_TERMS}, got {tuple(terms)}")
  use_colour, use_texture, use_size, use_fill = (term in terms for term in SIMILARITY_TERMS)
  num_regions = int(labels.max()) + 1
  capacity = 2 * num_regions - 1
  image_size = float(labels.size)

  sizes = np.zeros(capacity)
  sizes[:num_regions] = np.bincount(labels.ravel(), minlength=num_regions)
  if np.any(sizes[:num_regions] == 0):
    raise ValueError("labels must use every value in 0..n-1")
  boxes = np.zeros((capacity, 4))
  boxes[:num_regions] = region_boxes(labels)
  colour = np.zeros((capacity, 3 * COLOUR_BINS))
  texture = np.zeros((capacity, texture_pixel_bins.shape[1] * TEXTURE_BINS))
  if use_colour:
    colour[:num_regions] = region_histograms(labels, colour_pixel_bins, colour.shape[1])
  if use_texture:
    texture[:num_regions] = region_histograms(labels, texture_pixel_bins, texture.shape[1])

  def similarity(a, b):
    total = np.zeros(np.shape(b))
    if use_colour:
      total += histogram_intersection(colour[a], colour[b])
    if use_texture:
      total += histogram_intersection(texture[a], texture[b])
    if use_size:
      total += size_similarity(sizes[a], sizes[b], image_size)
    if use_fill:
      total += fill_similarity(boxes[a], boxes[b], sizes[a], sizes[b], image_size)
    return total

  pairs = adjacent_pairs(labels)
  neighbours = [set() for _ in range(capacity)]
  for i, j in pairs.tolist():
    neighbours[i].add(j)
    neighbours[j].add(i)
  # A max-heap by similarity (negated); ties go to the lower region ids. Stale pairs are skipped when popped.
  heap = [(-s, i, j) for s, (i, j) in zip(similarity(pairs[:, 0], pairs[:, 1]).tolist(), pairs.tolist())]
  heapq.heapify(heap)
  alive = [True] * num_regions + [False] * (num_regions - 1)

  for new in range(num_regions, capacity):
    while heap and not (alive[heap[0][1]] and alive[heap[0][2]]):
      heapq.heappop(heap)
    if not heap:
      return boxes[:new]
    _, i, j = heapq.heappop(heap)
    sizes[new] = sizes[i] + sizes[j]
    weight_i, weight_j = sizes[i] / sizes[new], sizes[j] / sizes[new]
    if use_colour:
      colour[new] = weight_i * colour[i] + weight_j * colour[j]
    if use_texture:
      texture[new] = weight_i * texture[i] + weight_j * texture[j]
    boxes[new, :2] = np.minimum(boxes[i, :2], boxes[j, :2])
    boxes[new, 2:] = np.maximum(boxes[i, 2:], boxes[j, 2:])
    alive[i] = alive[j] = False
    alive[new] = True
    merged = (neighbours[i] | neighbours[j]) - {i, j}
    for k in merged:
      neighbours[k] -= {i, j}
      neighbours[k].add(new)
    neighbours[new] = merged
    if merged:
      others = np.fromiter(merged, np.int64, len(merged))
      for s, k in zip(similarity(new, others).tolist(), others.tolist()):
        heapq.heappush(heap, (-s, k, new))
  return boxes


# -------------------------------------------------------------------------------------------------- public


def _check_image(image) -> np.ndarray:
  if not isinstance(image, np.ndarray):
    raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
  if image.ndim != 3 or image.shape[2] != 3:
    raise ValueError(f"image must be [H, W, 3] (RGB), got shape {image.shape}")
  if image.shape[0] < 2 or image.shape[1] < 2:
    raise ValueError(f"image must be at least 2x2 pixels, got {image.shape[0]}x{image.shape[1]}")
  if image.dtype == np.uint8:
    return image
  if np.issubdtype(image.dtype, np.floating):
    if not np.all(np.isfinite(image)) or image.min() < 0 or image.max() > 1:
      raise ValueError(f"a float image must be finite and in [0, 1], got range [{image.min()}, {image.max()}]")
    return np.round(image * 255).astype(np.uint8)
  raise ValueError(f"image must be uint8 (or float in [0, 1]), got dtype {image.dtype}")


def _check_options(mode: str, max_proposals: int, min_size: int, seed: int) -> None:
  if mode not in MODES:
    raise ValueError(f"unknown selective search mode {mode!r}; known: {', '.join(MODES)}")
  for name, value, lowest in (("max_proposals", max_proposals, 1), ("min_size", min_size, 1)):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
      raise ValueError(f"{name} must be an int >= {lowest}, got {value!r}")
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
    raise ValueError(f"seed must be an int, got {seed!r}")


def hierarchies(image: np.ndarray, *, mode: str = "fast", min_size: int = 20) -> list[np.ndarray]:
  """The region boxes of each of the mode's hierarchies, each float64 [2n - 1, 4] in creation order."""
  _check_options(mode, 1, min_size, 0)
  image = _check_image(image)
  out = []
  features, segmentations = {}, {}  # Shared by the strategies that differ only in the similarity terms.
  for strategy in MODES[mode]:
    space = strategy.colour_space
    if space not in features:
      converted = to_colour_space(image, space)
      features[space] = (converted, colour_bins(converted), texture_bins(converted))
    converted, colour_pixel_bins, texture_pixel_bins = features[space]
    if (space, strategy.k) not in segmentations:
      labels = segmentation.felzenszwalb(converted, scale=strategy.k, sigma=FELZENSZWALB_SIGMA,
                                         min_size=min_size)
      segmentations[space, strategy.k] = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)
    labels = segmentations[space, strategy.k]
    out.append(hierarchical_grouping(labels, colour_pixel_bins, texture_pixel_bins, strategy.terms))
  return out


def rank_proposals(hierarchy_boxes: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
  """Sec. 3.3: value ``RND * position`` (position 1 = the last region created) per region, ascending, with
  lower-ranked duplicate boxes removed. Returns float64 [N, 4]."""
  boxes = np.concatenate(hierarchy_boxes, axis=0)
  positions = np.concatenate([np.arange(len(b), 0, -1) for b in hierarchy_boxes]).astype(np.float64)
  values = rng.random(len(positions)) * positions
  ranked = boxes[np.argsort(values, kind="stable")]
  # Boxes have integer corners: one int64 key per box makes the duplicate search a 1-D unique.
  corners = ranked.astype(np.int64)
  span = int(corners.max(initial=0)) + 1
  keys = ((corners[:, 0] * span + corners[:, 1]) * span + corners[:, 2]) * span + corners[:, 3]
  _, first = np.unique(keys, return_index=True)
  return ranked[np.sort(first)]


def selective_search(image: np.ndarray, *, mode: str = "fast", max_proposals: int = 2000, min_size: int = 20,
                     seed: int = 0) -> np.ndarray:
  """Selective search proposals for one image (Uijlings et al., 2013; see the module docstring).

  Args:
    image: uint8 [H, W, 3] RGB (a float image in [0, 1] is accepted and quantised to uint8).
    mode: "fast" (8 hierarchies: HSV and Lab, k = 50 and 100, C+T+S+F and T+S+F) or "single" (HSV, k = 100,
      C+T+S+F).
    max_proposals: keep at most this many of the ranked, deduplicated proposals.
    min_size: Felzenszwalb's smallest initial region, in pixels.
    seed: seeds the randomised ranking; the same seed gives the same proposals in the same order.

  Returns:
    float32 [N, 4], N <= max_proposals, (x1, y1, x2, y2) pixel edges of ``image``, best ranked first.
  """
  _check_options(mode, max_proposals, min_size, seed)
  boxes = rank_proposals(hierarchies(image, mode=mode, min_size=min_size), np.random.default_rng(seed))
  return boxes[:max_proposals].astype(np.float32)
