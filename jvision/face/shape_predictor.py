"""dlib's face landmark shape predictors: reader and vectorized JAX inference.

An ensemble of regression trees (Kazemi & Sullivan, "One Millisecond Face Alignment with an Ensemble of
Regression Trees", CVPR 2014): starting from a mean shape placed in the face box, each of ``C`` cascade levels
reads ``P`` pixel intensities at points attached to the current shape (anchor landmark + offset, carried by the
similarity transform from the mean shape to the current one), and ``T`` depth-``D`` trees, each splitting on
the difference of two of those intensities, add their leaf's shape increment.

Files: ``shape_predictor_5_face_landmarks.dat`` (C=15, T=500, D=4, P=800, 5 points) and
``shape_predictor_68_face_landmarks.dat`` (68 points, iBUG 300-W markup), as written by dlib's
``serialize(shape_predictor)``: version, initial shape, forests (splits ``idx1, idx2, thresh``; leaf vectors),
anchor indices, deltas. Inference follows dlib: pixel points are rounded to the nearest pixel, points outside
the image read 0, intensity is ``(r + g + b) // 3``, the box maps ``(0,0)->(left,top)``, ``(1,1)->(right,bottom)``.
All faces of an image and all trees of a level are evaluated at once, with numpy on the host: the work is a
few thousand gathers per face, and matching dlib to the pixel needs its exact mix of float32 and float64.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from jvision.face.int_stream import decode_ints

_SPECIAL_EXPONENTS = (32000, 32001, 32002)


@dataclasses.dataclass(frozen=True)
class ShapePredictorModel:
  """The arrays of a shape predictor (numpy, float32/int32).

  initial_shape ``[L, 2]``; split_idx1/split_idx2 ``[C, T, S]``; split_thresh ``[C, T, S]``;
  leaves ``[C, T, S + 1, L, 2]``; anchor_idx ``[C, P]``; deltas ``[C, P, 2]``.
  """

  initial_shape: np.ndarray
  split_idx1: np.ndarray
  split_idx2: np.ndarray
  split_thresh: np.ndarray
  leaves: np.ndarray
  anchor_idx: np.ndarray
  deltas: np.ndarray

  @property
  def num_landmarks(self) -> int:
    return self.initial_shape.shape[0]


class _Tokens:
  """Cursor over the decoded integers with dlib's composite types."""

  def __init__(self, values: np.ndarray, name: str):
    self.values, self.pos, self.name = values, 0, name

  def take(self, n: int) -> np.ndarray:
    if self.pos + n > len(self.values):
      raise ValueError(f"{self.name}: truncated shape predictor file")
    out = self.values[self.pos:self.pos + n]
    self.pos += n
    return out

  def int(self) -> int:
    return int(self.take(1)[0])

  def floats(self, n: int) -> np.ndarray:
    return _to_float(self.take(2 * n).reshape(n, 2), self.name)

  def column(self) -> np.ndarray:
    rows, cols = abs(self.int()), abs(self.int())  # dlib writes negated sizes in its current matrix format.
    return self.floats(rows * cols)

  def columns(self, count: int) -> np.ndarray:
    """``count`` consecutive column vectors of one length ``[count, length]`` (checked), in one slice."""
    length = abs(int(self.values[self.pos])) * abs(int(self.values[self.pos + 1]))
    block = self.take(count * (2 + 2 * length)).reshape(count, 2 + 2 * length)
    if (np.abs(block[:, 0]) * np.abs(block[:, 1]) != length).any():
      raise ValueError(f"{self.name}: leaf vectors of different lengths")
    return _to_float(block[:, 2:].reshape(count, length, 2), self.name)


def _to_float(pairs: np.ndarray, name: str) -> np.ndarray:
  """dlib float_details ``[..., (mantissa, exponent)]`` -> float32."""
  if (pairs[..., 1] >= min(_SPECIAL_EXPONENTS)).any():
    raise ValueError(f"{name}: non-finite value in shape predictor")
  return (pairs[..., 0] * np.exp2(pairs[..., 1].astype(np.float64))).astype(np.float32)


def parse_shape_predictor(data: bytes | np.ndarray, name: str = "<bytes>") -> ShapePredictorModel:
  """Parses the bytes of a dlib ``shape_predictor`` file."""
  try:
    t = _Tokens(decode_ints(np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data), name)
  except ValueError as e:
    raise ValueError(f"{name}: not a dlib shape predictor file ({e})") from None
  if t.int() != 1:
    raise ValueError(f"{name}: unsupported shape predictor version")
  initial = t.column().reshape(-1, 2)
  num_cascades = t.int()
  idx1, idx2, thresh, leaves = [], [], [], []
  for _ in range(num_cascades):
    num_trees = t.int()
    for _ in range(num_trees):
      num_splits = t.int()
      splits = t.take(4 * num_splits).reshape(num_splits, 4)
      idx1.append(splits[:, 0])
      idx2.append(splits[:, 1])
      thresh.append((splits[:, 2] * np.exp2(splits[:, 3].astype(np.float64))).astype(np.float32))
      num_leaves = t.int()
      if num_leaves != num_splits + 1:
        raise ValueError(f"{name}: tree with {num_splits} splits has {num_leaves} leaves")
      leaves.append(t.columns(num_leaves))
  anchors = [t.take(t.int()) for _ in range(t.int())]
  deltas = []
  for _ in range(t.int()):
    deltas.append(t.floats(2 * t.int()).reshape(-1, 2))
  if t.pos != len(t.values):
    raise ValueError(f"{name}: trailing data after the shape predictor")
  shape = (num_cascades, len(idx1) // num_cascades)
  try:
    model = ShapePredictorModel(
        initial_shape=initial,
        split_idx1=np.stack(idx1).reshape(*shape, -1).astype(np.int32),
        split_idx2=np.stack(idx2).reshape(*shape, -1).astype(np.int32),
        split_thresh=np.stack(thresh).reshape(*shape, -1),
        leaves=np.stack(leaves).reshape(*shape, -1, initial.shape[0], 2),
        anchor_idx=np.stack(anchors).astype(np.int32),
        deltas=np.stack(deltas))
  except ValueError as e:  # Ragged trees or levels: not something dlib's trainer writes.
    raise ValueError(f"{name}: irregular shape predictor ({e})") from None
  if len(model.anchor_idx) != num_cascades or model.anchor_idx.max() >= model.num_landmarks:
    raise ValueError(f"{name}: inconsistent anchors")
  return model


@functools.lru_cache(maxsize=4)
def load_shape_predictor(path: str) -> ShapePredictorModel:
  """Reads ``shape_predictor_*.dat`` (cached per path)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"shape predictor file not found: {path!r}")
  return parse_shape_predictor(np.fromfile(path, np.uint8), os.path.basename(path))


def pixel_intensity(image: np.ndarray) -> np.ndarray:
  """dlib's ``get_pixel_intensity``: ``[H, W, 3]`` uint8 RGB -> ``(r + g + b) // 3``; ``[H, W]`` passes through."""
  image = np.asarray(image)
  if image.ndim == 2:
    return image.astype(np.float32)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"expected an image [H, W] or [H, W, 3], got shape {image.shape}")
  return (image.astype(np.int32).sum(axis=-1) // 3).astype(np.float32)


def similarity_matrices(source: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """The 2x2 parts ``cR [F, 2, 2]`` (float32) of the least-squares similarity transforms from ``source [L, 2]``
  to each of ``targets [F, L, 2]`` (closed form of Umeyama's solution in 2-D, computed in float64)."""
  a = source.astype(np.float64) - source.mean(axis=0)
  b = targets.astype(np.float64) - targets.mean(axis=1, keepdims=True)
  norm = np.sum(a * a)
  p = np.sum(a * b, axis=(1, 2)) / norm
  q = np.sum(a[:, 0] * b[..., 1] - a[:, 1] * b[..., 0], axis=1) / norm
  return np.stack([np.stack([p, -q], -1), np.stack([q, p], -1)], -2).astype(np.float32)


def predict_landmarks(model: ShapePredictorModel, image, boxes) -> np.ndarray:
  """Landmarks of every face box of one image, all faces and all trees of a level at once.

  The arithmetic follows dlib's precisely (shapes and offsets in float32, the box mapping in float64, tree
  outputs added one after another in float32), because every level rounds positions to whole pixels: a
  1e-5 px difference can move a sampled pixel and send a tree down another branch.

  Args:
    model: from ``load_shape_predictor``.
    image: ``[H, W, 3]`` uint8 RGB (or ``[H, W]`` grey).
    boxes: ``[F, 4]`` dlib rectangles ``(left, top, right, bottom)``, inclusive pixel coordinates.

  Returns:
    float64 ``[F, L, 2]`` landmark ``(x, y)`` positions; dlib reports them rounded to the nearest pixel.
  """
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  intensity = pixel_intensity(image)
  height, width = intensity.shape
  num_faces = boxes.shape[0]
  if num_faces == 0:
    return np.zeros((0, model.num_landmarks, 2))
  origin, extent = boxes[:, None, :2], boxes[:, None, 2:] - boxes[:, None, :2]
  num_levels, num_trees, num_splits = model.split_idx1.shape
  depth = int(np.log2(num_splits + 1))
  shape = np.broadcast_to(model.initial_shape, (num_faces,) + model.initial_shape.shape).astype(np.float32)
  faces, trees = np.arange(num_faces)[:, None], np.arange(num_trees)[None, :]
  for c in range(num_levels):
    m = similarity_matrices(model.initial_shape, shape)
    points = np.einsum("fij,pj->fpi", m, model.deltas[c]).astype(np.float32) + shape[:, model.anchor_idx[c]]
    pixels = np.floor(origin + points.astype(np.float64) * extent + 0.5).astype(np.int64)
    x, y = pixels[..., 0], pixels[..., 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    values = np.where(inside, intensity[np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)], 0.0)
    node = np.zeros((num_faces, num_trees), np.int64)
    for _ in range(depth):
      left = values[faces, model.split_idx1[c, trees, node]]
      right = values[faces, model.split_idx2[c, trees, node]]
      node = np.where(left - right > model.split_thresh[c, trees, node], 2 * node + 1, 2 * node + 2)
    increments = model.leaves[c, trees, node - num_splits]  # [F, T, L, 2]
    # Sequential float32 accumulation, tree after tree, as dlib adds them.
    shape = np.cumsum(np.concatenate([shape[:, None], increments], axis=1), axis=1, dtype=np.float32)[:, -1]
  return origin + shape.astype(np.float64) * extent
