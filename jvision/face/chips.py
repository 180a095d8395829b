"""Aligned face chips: the similarity transform from landmarks to a square chip, and bilinear extraction.

As dlib's ``get_face_chip_details`` + ``extract_image_chip`` (used by face_recognition's encoder with
``size=150, padding=0.25``): the least-squares similarity transform maps dlib's canonical landmark positions
(5-point model: eye corners and nose base; 68-point model: 42 of the points, without eyebrows and lower lip)
in a ``size x size`` chip, padded by ``padding`` of the face width on every side, onto the detected
landmarks. Its scale and rotation give a rotated square in the image whose corners the chip's corner pixels
map to; each chip pixel is a bilinear interpolation of the image (0 outside it). When the square is more than
twice the chip's side, the image around it is first halved (as often as needed) with dlib's 5-tap
``pyramid_down<2>`` filter and the chip is sampled from that level, as dlib does to avoid aliasing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Positions of the 5-point model's landmarks (right eye outer/inner, left eye outer/inner, nose) in a unit
# face square, and of 68-point landmarks 17..67, as dlib's get_face_chip_details defines them.
_FIVE_POINT_TEMPLATE = np.array([
    (0.8595674595992, 0.2134981538014), (0.6460604764104, 0.2289674387677),
    (0.1205750620789, 0.2137274526848), (0.3340850613712, 0.2290642403242),
    (0.4901123135679, 0.6277975316475)])
_MEAN_FACE_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004,
    0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217, 0.613373, 0.121737,
    0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751,
    0.719335, 0.254149, 0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127,
    0.42689)
_MEAN_FACE_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915,
    0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326,
    0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423,
    0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182,
    0.831803, 0.824182)
# 68-point landmarks used for alignment: 27..54 and 60..64 (no eyebrows 17..26, no lower lip).
_SIXTY_EIGHT_USED = np.array([i for i in range(17, 68) if not (17 <= i <= 26 or 55 <= i <= 59 or 65 <= i <= 67)])


def chip_template(num_landmarks: int, size: int = 150, padding: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
  """``(landmark indices [K], chip positions [K, 2])`` of the landmarks used to align a chip."""
  if num_landmarks == 5:
    unit, used = _FIVE_POINT_TEMPLATE, np.arange(5)
  elif num_landmarks == 68:
    used = _SIXTY_EIGHT_USED
    unit = np.stack([np.array(_MEAN_FACE_X), np.array(_MEAN_FACE_Y)], -1)[used - 17]
  else:
    raise ValueError(f"face chips need 5 or 68 landmarks, got {num_landmarks}")
  if padding < 0 or size <= 0:
    raise ValueError(f"need padding >= 0 and size > 0, got padding={padding}, size={size}")
  return used, (padding + unit) / (2 * padding + 1) * size


def similarity_transform(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Least-squares similarity ``x -> M x + t`` from ``source [K, 2]`` to ``target [K, 2]`` (float64).

  Umeyama's solution (without reflection), as dlib's ``find_similarity_transform``.
  """
  source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
  mean_s, mean_t = source.mean(0), target.mean(0)
  a, b = source - mean_s, target - mean_t
  sigma = (a * a).sum() / len(a)
  cov = b.T @ a / len(a)
  u, d, vt = np.linalg.svd(cov)
  s = np.eye(2)
  if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
    s[1, 1] = -1 if d[1] < d[0] else 1
    s[0, 0] = -1 if d[1] >= d[0] else 1
  rotation = u @ s @ vt
  scale = np.trace(np.diag(d) @ s) / sigma if sigma != 0 else 1.0
  m = scale * rotation
  return m, mean_t - m @ mean_s


def chip_rectangles(landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> list[tuple[float, np.ndarray]]:
  """Per face, dlib's chip details: ``(angle, rect)`` with ``rect = (left, top, right, bottom)`` (float64).

  ``landmarks [F, L, 2]`` (x, y) with L = 5 or 68; dlib aligns on landmarks rounded to whole pixels.
  """
  landmarks = np.asarray(landmarks, np.float64)
  if landmarks.ndim != 3 or landmarks.shape[-1] != 2:
    raise ValueError(f"expected landmarks [F, L, 2], got shape {landmarks.shape}")
  used, template = chip_template(landmarks.shape[1], size, padding)
  out = []
  for points in landmarks:
    m, t = similarity_transform(template, points[used])
    angle = np.arctan2(m[1, 0], m[0, 0])
    scale = np.hypot(m[0, 0], m[1, 0])
    center = m @ np.array([size / 2.0, size / 2.0]) + t
    half = (size * scale - 1) / 2.0  # dlib rectangles span width - 1 between their edges.
    out.append((angle, np.concatenate([center - half, center + half])))
  return out


def _rotated_corners(rect: np.ndarray, angle: float) -> np.ndarray:
  """``[tl, tr, bl, br]`` of ``rect`` rotated by ``angle`` about its centre, ``[4, 2]``."""
  left, top, right, bottom = rect
  center = np.array([(left + right) / 2, (top + bottom) / 2])
  rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  corners = np.array([[left, top], [right, top], [left, bottom], [right, bottom]])
  return (corners - center) @ rot.T + center


def _grid(corners: np.ndarray, size: int) -> np.ndarray:
  """Chip pixel ``(c, r)`` -> image position, with the chip's corner pixels on ``corners``; ``[S, S, 2]``."""
  rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  tl, tr, bl = corners[0], corners[1], corners[2]
  return tl + cols[..., None] * (tr - tl) / (size - 1) + rows[..., None] * (bl - tl) / (size - 1)


def _rect_down(rect: np.ndarray) -> np.ndarray:
  """dlib's ``pyramid_down<2>::rect_down``: corners ``p -> p / 2 - (1.25, 0.75)``."""
  return rect / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])


def _area(rect: np.ndarray) -> float:
  return (rect[2] - rect[0] + 1) * (rect[3] - rect[1] + 1)


def pyramid_down_2(image: np.ndarray) -> np.ndarray:
  """dlib's ``pyramid_down<2>`` of an RGB uint8 image: 5-tap [1 4 6 4 1] filter in integers, every other pixel,
  ``[H, W, 3] -> [(H - 3) // 2, (W - 3) // 2, 3]`` (truncating division by 256)."""
  h, w = image.shape[:2]
  weights = np.array([1, 4, 6, 4, 1], np.int64)
  img = image.astype(np.int64)
  out_w, out_h = (w - 3) // 2, (h - 3) // 2
  rows = sum(weights[j] * img[:, j:j + 2 * out_w:2] for j in range(5))  # [H, out_w]
  out = sum(weights[i] * rows[i:i + 2 * out_h:2] for i in range(5))  # rows 2r .. 2r + 4 around 2 + 2r
  return (out // 256).astype(np.uint8)


def chip_sampling_grid(landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
  """Image ``(x, y)`` positions ``[F, size, size, 2]`` (float32) of every chip pixel (full-resolution path)."""
  return np.stack([_grid(_rotated_corners(rect, angle), size) for angle, rect in
                   chip_rectangles(landmarks, size, padding)]).astype(np.float32) if len(landmarks) else np.zeros(
                       (0, size, size, 2), np.float32)


def _extract_one(image: np.ndarray, angle: float, rect: np.ndarray, size: int) -> np.ndarray:
  """One chip as dlib's ``extract_image_chip`` makes it, pyramid level included."""
  chip_area = size * size
  level, level_rect = -1, rect
  while _area(_rect_down(level_rect)) > chip_area:
    level += 1
    level_rect = _rect_down(level_rect)
  if level < 0:
    return np.asarray(sample_chips(image, _grid(_rotated_corners(rect, angle), size)[None].astype(np.float32)))[0]
  # The pyramid is built from a crop around the rotated square, grown by the border the filters need.
  grow, depth, probe = 2.0, 0, _rect_down(rect)
  while _area(probe) > chip_area:
    probe, depth, grow = _rect_down(probe), depth + 1, grow * 2 + 2
  corners = _rotated_corners(rect, angle)
  box = np.floor(np.concatenate([corners.min(0) - grow, corners.max(0) + grow]) + 0.5).astype(int)
  height, width = image.shape[:2]
  left, top = max(box[0], 0), max(box[1], 0)
  right, bottom = min(box[2], width - 1), min(box[3], height - 1)
  levels = [image[top:bottom + 1, left:right + 1]]
  for _ in range(level + 1):
    levels.append(pyramid_down_2(levels[-1]))
  local = rect - np.array([left, top, left, top], np.float64)
  for _ in range(level + 1):
    local = _rect_down(local)
  grid = _grid(_rotated_corners(local, angle), size)[None].astype(np.float32)
  return np.asarray(sample_chips(levels[-1], grid))[0]


def _bilinear(image: jnp.ndarray, grid: jnp.ndarray) -> jnp.ndarray:
  """dlib's ``interpolate_bilinear``: ``image [H, W, C]`` at ``grid [..., 2]`` (x, y); 0 where any of the four
  neighbours is outside."""
  height, width = image.shape[:2]
  x, y = grid[..., 0], grid[..., 1]
  left, top = jnp.floor(x), jnp.floor(y)
  fx, fy = (x - left)[..., None], (y - top)[..., None]
  left, top = left.astype(jnp.int32), top.astype(jnp.int32)
  inside = (left >= 0) & (top >= 0) & (left + 1 < width) & (top + 1 < height)
  l0, t0 = jnp.clip(left, 0, width - 2), jnp.clip(top, 0, height - 2)
  img = image.astype(jnp.float32)
  tl, tr = img[t0, l0], img[t0, l0 + 1]
  bl, br = img[t0 + 1, l0], img[t0 + 1, l0 + 1]
  value = (1 - fy) * ((1 - fx) * tl + fx * tr) + fy * ((1 - fx) * bl + fx * br)
  return jnp.where(inside[..., None], value, 0.0)


@jax.jit
def sample_chips(image: jnp.ndarray, grids: jnp.ndarray) -> jnp.ndarray:
  """``image [H, W, C]`` uint8, ``grids [F, S, S, 2]`` -> chips ``[F, S, S, C]`` uint8."""
  values = _bilinear(image, grids)
  return jnp.clip(values, 0, 255).astype(jnp.uint8)  # dlib truncates when it assigns a double to a pixel.


def extract_chips(image, landmarks, size: int = 150, padding: float = 0.25) -> np.ndarray:
  """Aligned face chips ``[F, size, size, 3]`` uint8 of one RGB image ``[H, W, 3]`` from ``landmarks [F, L, 2]``."""
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
    raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")
  landmarks = np.floor(np.asarray(landmarks, np.float64) + 0.5)
  if len(landmarks) == 0:
    return np.zeros((0, size, size, 3), np.uint8)
  return np.stack([_extract_one(image, angle, rect, size) for angle, rect in
                   chip_rectangles(landmarks, size, padding)])
