"""dlib's CNN face detector end to end: image pyramid tiling, scoring in JAX, boxes back in image space.

dlib's ``cnn_face_detection_model_v1`` (MMOD, King 2015, arXiv:1502.00046) scans an 80x80 window over every
scale by running its fully convolutional scorer (``jvision.models.mmod_detector``) once over a *tiled*
pyramid: the image and its successive 5/6 down-scalings are packed into one canvas (10 px apart, 11 px
border, the first level on the left, smaller levels doubling back on the right), filled with the mean colour.
Every score above the threshold at output position ``(c, r)`` is a window centred on input pixel
``(8c + 14, 8r + 14)``; it is mapped back through the level that contains it (``p -> p * 6/5 + 0.3`` per
level) and windows are kept greedily by score unless they overlap a kept one (IoU > 0.338 or one inside the
other). ``upsample`` doubles the image first with dlib's ``pyramid_up`` and maps boxes back with
``p -> p / 2 - (1.25, 0.75)``. All of this follows dlib's own definitions so that boxes agree with dlib's.

The canvas layout depends only on the image size, so a batch of same-size images is scored in one
jit-compiled call; the variable-length part (thresholding, NMS over a handful of windows) runs on the host.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision.face import dlib_format
from jvision.models.mmod_detector import MMODDetector

PYRAMID_RATE = 5.0 / 6.0  # dlib's pyramid_down<6>.
PYRAMID_PADDING, PYRAMID_OUTER_PADDING, MIN_LEVEL_HEIGHT = 10, 11, 5


def tiled_pyramid_layout(height: int, width: int, padding: int = PYRAMID_PADDING,
                         outer_padding: int = PYRAMID_OUTER_PADDING) -> tuple[list[tuple[int, int, int, int]],
                                                                              tuple[int, int]]:
  """Where each pyramid level goes on the canvas: ``([(left, top, right, bottom)] inclusive, (rows, cols))``.

  As dlib's ``compute_tiled_image_pyramid_details`` for ``pyramid_down<6>``.
  """
  sizes = [(width, height)]
  nr, nc = height, width
  while True:
    nr, nc = int(np.floor(PYRAMID_RATE * nr)), int(np.floor(PYRAMID_RATE * nc))
    if nr * nc == 0 or nr < MIN_LEVEL_HEIGHT:
      break
    sizes.append((nc, nr))
  total_height = sum(h + padding for _, h in sizes) - 2 * padding
  column_height, previous_width = 0, 0
  for w, h in sizes:
    if w <= width - previous_width - padding and (column_height - height) * 2 >= total_height - height:
      break
    column_height += h + padding
    previous_width = w
  column_height -= padding
  canvas = (column_height + 2 * outer_padding, width + 2 * outer_padding)
  rects = []
  y = outer_padding
  i = 0
  while y < column_height + outer_padding and i < len(sizes):
    w, h = sizes[i]
    rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
    y += h + padding
    i += 1
  y -= padding
  first = rects[0]
  while i < len(sizes):
    w, h = sizes[i]
    right, bottom = outer_padding + width - 1, y - 1
    rect = (right - (w - 1), bottom - (h - 1), right, bottom)
    overlaps_first = not (rect[2] < first[0] or rect[0] > first[2] or rect[3] < first[1] or rect[1] > first[3])
    if overlaps_first:
      break
    rects.append(rect)
    y -= h + padding
    i += 1
  return rects, canvas


def resize_bilinear(images: jnp.ndarray, height: int, width: int) -> jnp.ndarray:
  """dlib's ``resize_image`` with bilinear interpolation: corners map to corners. ``[B, H, W, C]`` float."""
  in_h, in_w = images.shape[1:3]
  ys = jnp.arange(height, dtype=jnp.float32) * ((in_h - 1) / max(height - 1, 1))
  xs = jnp.arange(width, dtype=jnp.float32) * ((in_w - 1) / max(width - 1, 1))
  top, left = jnp.floor(ys).astype(jnp.int32), jnp.floor(xs).astype(jnp.int32)
  bottom, right = jnp.minimum(top + 1, in_h - 1), jnp.minimum(left + 1, in_w - 1)
  fy = (ys - top)[None, :, None, None]
  fx = (xs - left)[None, None, :, None]
  rows_t, rows_b = images[:, top], images[:, bottom]
  upper = (1 - fx) * rows_t[:, :, left] + fx * rows_t[:, :, right]
  lower = (1 - fx) * rows_b[:, :, left] + fx * rows_b[:, :, right]
  return (1 - fy) * upper + fy * lower


def pyramid_up(images: jnp.ndarray) -> jnp.ndarray:
  """dlib's ``pyramid_up`` with ``pyramid_down<2>``: uint8 ``[B, H, W, 3]`` -> ``[B, 2H + 1, 2W + 2, 3]``."""
  height, width = images.shape[1:3]
  # The up-mapped image rectangle (p + (1.25, 0.75)) * 2, rounded, fixes the output size.
  out_h = int(np.floor((height - 1 + 0.75) * 2 + 0.5)) + 1
  out_w = int(np.floor((width - 1 + 1.25) * 2 + 0.5)) + 1
  up = resize_bilinear(images.astype(jnp.float32), out_h, out_w)
  return jnp.clip(up, 0, 255).astype(jnp.uint8)  # dlib truncates.


def build_tiled_pyramid(images: jnp.ndarray, mean_rgb: Sequence[float]) -> jnp.ndarray:
  """Normalized tiled pyramid canvas ``[B, rows, cols, 3]`` of uint8 images ``[B, H, W, 3]`` (0 = mean colour)."""
  batch, height, width = images.shape[:3]
  rects, (rows, cols) = tiled_pyramid_layout(height, width)
  level = (images.astype(jnp.float32) - jnp.asarray(mean_rgb, jnp.float32)) / 256.0
  canvas = jnp.zeros((batch, rows, cols, 3), jnp.float32)
  for i, (left, top, right, bottom) in enumerate(rects):
    if i:
      level = resize_bilinear(level, bottom - top + 1, right - left + 1)
    canvas = canvas.at[:, top:bottom + 1, left:right + 1].set(level)
  return canvas


@dataclasses.dataclass(frozen=True)
class Detection:
  """A face box ``(left, top, right, bottom)`` (inclusive pixels, as dlib's rectangle) and its score."""

  left: int
  top: int
  right: int
  bottom: int
  score: float


def _round(x: float) -> int:
  return int(np.floor(x + 0.5))


def _area(box) -> int:
  return max(0, box[2] - box[0] + 1) * max(0, box[3] - box[1] + 1)


def _overlaps(a, b, iou_thresh: float, covered_thresh: float) -> bool:
  """dlib's ``test_box_overlap`` on inclusive integer rectangles."""
  inner = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
  if inner == 0:
    return False
  outer = _area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
  return inner / outer > iou_thresh or inner / _area(a) > covered_thresh or inner / _area(b) > covered_thresh


def _nearest_level(rects, x: float, y: float) -> int:
  best, best_dist = 0, np.inf
  for i, (left, top, right, bottom) in enumerate(rects):
    if left <= x <= right and top <= y <= bottom:
      return i
    dist = np.hypot(x - np.clip(x, left, right), y - np.clip(y, top, bottom))
    if dist < best_dist:
      best, best_dist = i, dist
  return best


class MMODFaceDetector:
  """dlib's CNN face detector read from ``mmod_human_face_detector.dat`` and run in JAX."""

  def __init__(self, path: str):
    network = dlib_format.load_network(path)
    if network.loss.get("kind") != "loss_mmod":
      raise ValueError(f"{path!r} is not an MMOD detector (loss {network.loss.get('kind')!r})")
    self.options = network.loss
    self.mean_rgb = network.input["mean_rgb"]
    self.window = network.loss["detector_windows"][0]
    self.model = MMODDetector(mean_rgb=self.mean_rgb)
    self.variables = {"params": jax.tree_util.tree_map(jnp.asarray, dlib_format.flax_params(network))}
    convs = [layer for layer in network.layers if layer.kind == "con"]
    if [c.attrs["features"] for c in convs] != [16, 32, 32, 45, 45, 45, 1]:
      raise ValueError(f"{path!r}: unexpected MMOD architecture {[c.attrs for c in convs]}")

  @functools.partial(jax.jit, static_argnums=(0, 3))
  def _scores(self, variables, images: jnp.ndarray, upsample: int) -> jnp.ndarray:
    for _ in range(upsample):
      images = pyramid_up(images)
    canvas = build_tiled_pyramid(images, self.mean_rgb)
    # The scorer normalizes its input itself; hand it the canvas back in pixel units.
    pixels = canvas * 256.0 + jnp.asarray(self.mean_rgb, jnp.float32)
    return self.model.apply(variables, pixels)

  def __call__(self, images, upsample: int = 0, threshold: float = 0.0) -> list[list[Detection]]:
    """Faces in each of a batch of same-size RGB uint8 images ``[B, H, W, 3]`` (or one ``[H, W, 3]``)."""
    images = np.asarray(images)
    if images.ndim == 3:
      images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
      raise ValueError(f"expected RGB uint8 images [B, H, W, 3], got {images.dtype} {images.shape}")
    if upsample < 0:
      raise ValueError(f"upsample must be >= 0, got {upsample}")
    scores = np.asarray(self._scores(self.variables, jnp.asarray(images), int(upsample)))
    height, width = images.shape[1:3]
    for _ in range(upsample):
      height, width = 2 * height + 1, 2 * width + 2
    rects, _ = tiled_pyramid_layout(height, width)
    return [self._boxes(s, rects, upsample, threshold) for s in scores]

  def _boxes(self, scores: np.ndarray, rects, upsample: int, threshold: float) -> list[Detection]:
    rows, cols = np.nonzero(scores > threshold)
    order = np.argsort(-scores[rows, cols], kind="stable")
    half_w, half_h = (self.window[0] - 1) / 2.0, (self.window[1] - 1) / 2.0
    candidates = []
    for i in order:
      x, y = 8.0 * cols[i] + 14.0, 8.0 * rows[i] + 14.0  # Receptive-field centre of the output position.
      level = _nearest_level(rects, x, y)
      corners = np.array([[x - half_w, y - half_h], [x + half_w, y + half_h]]) - np.array(rects[level][:2])
      for _ in range(level):
        corners = corners / PYRAMID_RATE + 0.3
      box = tuple(_round(v) for v in corners.reshape(-1))
      candidates.append((box, float(scores[rows[i], cols[i]])))
    nms = self.options["overlaps_nms"]
    kept: list[tuple[tuple[int, ...], float]] = []
    for box, score in candidates:
      if not any(_overlaps(k, box, nms["iou_thresh"], nms["percent_covered_thresh"]) for k, _ in kept):
        kept.append((box, score))
    detections = []
    for box, score in kept:
      corners = np.array(box, np.float64).reshape(2, 2)
      for _ in range(upsample):
        corners = corners / 2.0 - np.array([1.25, 0.75])
      left, top, right, bottom = (_round(v) for v in corners.reshape(-1))
      detections.append(Detection(left, top, right, bottom, score))
    return detections
