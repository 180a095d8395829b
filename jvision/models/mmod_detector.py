"""dlib's CNN face detector (``mmod_human_face_detector``): the fully convolutional scorer, as flax.linen.

Max-Margin Object Detection (King, "Max-Margin Object Detection", arXiv:1502.00046) trained with a CNN in
dlib 19.2 (2016): an 8x-downsampling front end and a 9x9 convolution that scores every position of an 80x80
sliding window. On an RGB image (usually a tiled image pyramid, see ``jvision.face.mmod``):

    3 x [con 5x5/2 (16, 32, 32), no padding -> affine -> relu]
    -> 3 x [con 5x5/1 (45), pad 2 -> affine -> relu] -> con 9x9/1 (1), pad 4

Output ``[B, H', W']`` with ``H' = output_size(H)`` (three valid 5x5 stride-2 convolutions), one detection
score per position, each the centre of a window at input pixel ``8 * position + 14``. Layers are named ``con_{i}``/``affine_{i}`` input first, as
``jvision.face.dlib_format.flax_params`` names dlib's weights.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision.models.dlib_layers import Affine, conv, normalize_rgb

DLIB_MEAN_RGB = (122.782, 117.001, 104.298)


def output_size(size: int) -> int:
  """Side of the score map for an input side ``size``: three 5x5 stride-2 valid convolutions."""
  for _ in range(3):
    size = (size - 5) // 2 + 1
  return size


class MMODDetector(nn.Module):
  """RGB images ``[B, H, W, 3]`` (0..255) -> detection scores ``[B, H', W']`` (float32).

  Attributes:
    mean_rgb: the input layer's per-channel mean (read from the model file).
    downsampler: filters of the three stride-2 convolutions.
    trunk: filters of the stride-1 5x5 convolutions.
    dtype / param_dtype: compute and storage dtypes.
  """

  mean_rgb: Sequence[float] = DLIB_MEAN_RGB
  downsampler: Sequence[int] = (16, 32, 32)
  trunk: Sequence[int] = (45, 45, 45)
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
    del train
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"MMODDetector expects images [B, H, W, 3], got shape {images.shape}")
    kw = {"dtype": self.dtype, "param_dtype": self.param_dtype}
    x = normalize_rgb(images, self.mean_rgb, self.dtype)
    layers = [(f, 5, 2, 0) for f in self.downsampler] + [(f, 5, 1, 2) for f in self.trunk]
    for i, (features, kernel, stride, padding) in enumerate(layers):
      x = conv(features, kernel, stride, padding, f"con_{i}", **kw)(x)
      x = nn.relu(Affine(name=f"affine_{i}", **kw)(x))
    x = conv(1, 9, 1, 4, f"con_{len(layers)}", **kw)(x)
    return x[..., 0].astype(jnp.float32)
