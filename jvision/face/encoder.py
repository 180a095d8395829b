"""Face descriptors: dlib's ResNet (``jvision.models.dlib_resnet``) on aligned chips, batched and jitted.

``FaceEncoder(path)`` reads ``dlib_face_recognition_resnet_model_v1.dat``; ``encoder(chips)`` maps
``[N, 150, 150, 3]`` uint8 chips to ``[N, 128]`` descriptors in one jit-compiled call (N is padded up to a
power of two so that a handful of shapes is ever compiled). ``num_jitters > 1`` averages the descriptors of
randomly jittered copies of each chip (up to 3 degrees of rotation, 2% shift, 0.97..1 zoom, half mirrored), as
dlib does; dlib's jitters come from its own random generator, so jittered descriptors agree with dlib's only
statistically.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jvision.face import dlib_format
from jvision.models.dlib_resnet import DlibResNet


def _bucket(n: int) -> int:
  return 1 << max(0, (n - 1).bit_length())


def jitter_chips(chips: np.ndarray, num_jitters: int, rng: np.random.Generator) -> np.ndarray:
  """``[N, S, S, 3]`` -> ``[N, num_jitters, S, S, 3]`` randomly rotated/shifted/zoomed/mirrored copies."""
  n, size = chips.shape[0], chips.shape[1]
  out = np.empty((n, num_jitters) + chips.shape[1:], np.uint8)
  rows, cols = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")
  center = (size - 1) / 2.0
  for i in range(n):
    for j in range(num_jitters):
      angle = np.deg2rad(rng.uniform(-3, 3))
      zoom = 1.0 / rng.uniform(0.97, 0.99999)
      shift = rng.uniform(-0.02, 0.02, size=2) * (size - 6)
      x, y = cols - center, rows - center
      sx = zoom * (np.cos(angle) * x - np.sin(angle) * y) + center + shift[0]
      sy = zoom * (np.sin(angle) * x + np.cos(angle) * y) + center + shift[1]
      x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
      inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < size) & (y0 + 1 < size)
      x0c, y0c = np.clip(x0, 0, size - 2), np.clip(y0, 0, size - 2)
      fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
      img = chips[i].astype(np.float64)
      value = ((1 - fy) * ((1 - fx) * img[y0c, x0c] + fx * img[y0c, x0c + 1])
               + fy * ((1 - fx) * img[y0c + 1, x0c] + fx * img[y0c + 1, x0c + 1]))
      value = np.where(inside[..., None], value, 0).astype(np.uint8)
      out[i, j] = value[:, ::-1] if rng.random() > 0.5 else value
  return out


class FaceEncoder:
  """dlib's face recognition ResNet read from its ``.dat`` file, run in JAX."""

  def __init__(self, path: str):
    network = dlib_format.load_network(path)
    if network.loss.get("kind") != "loss_metric" or network.input.get("size") != (150, 150):
      raise ValueError(f"{path!r} is not dlib's face recognition ResNet ({network.loss}, {network.input})")
    self.chip_size = 150
    self.model = DlibResNet(mean_rgb=network.input["mean_rgb"])
    self.variables = {"params": jax.tree_util.tree_map(jnp.asarray, dlib_format.flax_params(network))}
    expected = jax.eval_shape(self.model.init, jax.random.PRNGKey(0), jnp.zeros((1, 150, 150, 3), jnp.uint8))
    got = jax.tree_util.tree_map(lambda a: a.shape, self.variables)
    want = jax.tree_util.tree_map(lambda a: a.shape, expected)
    if got != want:
      raise ValueError(f"{path!r}: weights do not fit DlibResNet")

  @functools.partial(jax.jit, static_argnums=0)
  def _apply(self, variables, chips: jnp.ndarray) -> jnp.ndarray:
    return self.model.apply(variables, chips)

  def __call__(self, chips, num_jitters: int = 1, seed: int = 0) -> np.ndarray:
    """Descriptors ``[N, 128]`` (float64, as face_recognition returns) of chips ``[N, 150, 150, 3]`` uint8."""
    chips = np.asarray(chips)
    if chips.ndim != 4 or chips.shape[1:] != (150, 150, 3) or chips.dtype != np.uint8:
      raise ValueError(f"expected face chips uint8 [N, 150, 150, 3], got {chips.dtype} {chips.shape}")
    if num_jitters < 1:
      raise ValueError(f"num_jitters must be >= 1, got {num_jitters}")
    n = chips.shape[0]
    if n == 0:
      return np.zeros((0, 128))
    if num_jitters > 1:
      chips = jitter_chips(chips, num_jitters, np.random.default_rng(seed)).reshape((-1,) + chips.shape[1:])
    total = chips.shape[0]
    padded = np.zeros((_bucket(total),) + chips.shape[1:], np.uint8)
    padded[:total] = chips
    out = np.asarray(self._apply(self.variables, jnp.asarray(padded)))[:total].astype(np.float64)
    return out.reshape(n, num_jitters, -1).mean(axis=1)
