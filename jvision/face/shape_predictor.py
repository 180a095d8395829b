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
All faces of an image and all trees of a level are evaluated at once.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
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


def pixel_intensity(image: jnp.ndarray) -> jnp.ndarray:
  """dlib's ``get_pixel_intensity``: ``[H, W, 3]`` uint8 RGB -> ``(r + g + b) // 3``; ``[H, W]`` passes through."""
  if image.ndim == 2:
    return image.astype(jnp.float32)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"expected an image [H, W] or [H, W, 3], got shape {image.shape}")
  return (jnp.sum(image.astype(jnp.int32), axis=-1) // 3).astype(jnp.float32)


def similarity_matrix(source: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  """The 2x2 part ``cR`` of the least-squares similarity transform from ``source [L, 2]`` to ``target [L, 2]``."""
  a = source - source.mean(axis=0)
  b = target - target.mean(axis=0)
  norm = jnp.sum(a * a)
  p = jnp.sum(a * b) / norm
  q = jnp.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]) / norm
  return jnp.array([[p, -q], [q, p]])


def _predict_one(arrays: dict, intensity: jnp.ndarray, box: jnp.ndarray) -> jnp.ndarray:
  """One face: ``intensity [H, W]``, ``box [4]`` (left, top, right, bottom) -> landmarks ``[L, 2]`` (x, y)."""
  height, width = intensity.shape
  origin, extent = box[:2], box[2:] - box[:2]
  initial = arrays["initial_shape"]
  num_splits = arrays["split_idx1"].shape[-1]
  depth = int(np.log2(num_splits + 1))

  def level(shape, level_arrays):
    idx1, idx2, thresh, leaves, anchor, delta = level_arrays
    m = similarity_matrix(initial, shape)
    points = delta @ m.T + shape[anchor]
    pixels = jnp.floor(origin + points * extent + 0.5).astype(jnp.int32)
    x, y = pixels[:, 0], pixels[:, 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    values = jnp.where(inside, intensity[jnp.clip(y, 0, height - 1), jnp.clip(x, 0, width - 1)], 0.0)
    node = jnp.zeros(idx1.shape[0], jnp.int32)
    for _ in range(depth):
      i1 = jnp.take_along_axis(idx1, node[:, None], 1)[:, 0]
      i2 = jnp.take_along_axis(idx2, node[:, None], 1)[:, 0]
      th = jnp.take_along_axis(thresh, node[:, None], 1)[:, 0]
      node = jnp.where(values[i1] - values[i2] > th, 2 * node + 1, 2 * node + 2)
    leaf = node - num_splits
    increments = jnp.take_along_axis(leaves, leaf[:, None, None, None], 1)[:, 0]
    return shape + increments.sum(axis=0), None

  level_arrays = tuple(arrays[k] for k in ("split_idx1", "split_idx2", "split_thresh", "leaves", "anchor_idx",
                                             "deltas"))
  shape, _ = jax.lax.scan(level, initial, level_arrays)
  return origin + shape * extent


@jax.jit
def _predict(arrays: dict, image: jnp.ndarray, boxes: jnp.ndarray) -> jnp.ndarray:
  intensity = pixel_intensity(image)
  return jax.vmap(_predict_one, in_axes=(None, None, 0))(arrays, intensity, boxes)


def predict_landmarks(model: ShapePredictorModel, image, boxes) -> np.ndarray:
  """Landmarks of every face box of one image.

  Args:
    model: from ``load_shape_predictor``.
    image: ``[H, W, 3]`` uint8 RGB (or ``[H, W]`` grey).
    boxes: ``[F, 4]`` dlib rectangles ``(left, top, right, bottom)``, inclusive pixel coordinates.

  Returns:
    float32 ``[F, L, 2]`` landmark ``(x, y)`` positions; dlib reports them rounded to the nearest pixel.
  """
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  image = np.asarray(image)
  if boxes.shape[0] == 0:
    return np.zeros((0, model.num_landmarks, 2), np.float32)
  arrays = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
  return np.asarray(_predict(arrays, image, boxes))
