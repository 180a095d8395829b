"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1``), as flax.linen.

The network behind face_recognition's 128-D encodings (King, dlib 19.3, 2017): a ResNet-34 with a few
layers removed and the filter counts halved, trained with a metric (pairwise hinge) loss so that faces of the
same person are within Euclidean distance 0.6. On a 150x150 RGB face chip:

    con 7x7/2 (32) -> affine -> relu -> max_pool 3x3/2
    -> 3 x res(32) -> res_down(64) + 3 x res(64) -> res_down(128) + 2 x res(128)
    -> res_down(256) + 2 x res(256) -> res_down(256) -> global average -> fc 128 (no bias)

``res(N)``: ``relu(x + affine(con3(relu(affine(con3(x))))))``; ``res_down(N)``: the first conv has stride 2
and no padding, and the shortcut is a 2x2/2 average pool whose missing channels (and, at 8 -> 3 vs 4 pixels,
missing rows) count as zero, as dlib's ``add_prev`` does. Layers are named ``con_{i}``, ``affine_{i}``,
``fc_0`` in input-to-output order to take the weights of ``jvision.face.dlib_format.flax_params``.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax.numpy as jnp
from flax import linen as nn

from jvision.models.dlib_layers import Affine, add_zero_padded, conv, normalize_rgb

# (filters, downsample first) of every residual block, input to output.
BLOCKS = ((32, False),) * 3 + ((64, True),) + ((64, False),) * 3 + ((128, True),) + ((128, False),) * 2 + (
    (256, True),) + ((256, False),) * 2 + ((256, True),)
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)


class DlibResNet(nn.Module):
  """Face chips ``[B, 150, 150, 3]`` (RGB, 0..255) -> descriptors ``[B, embedding_dim]`` (float32).

  Attributes:
    mean_rgb: the input layer's per-channel mean (read from the model file).
    blocks: ``(filters, downsample)`` per residual block.
    embedding_dim: size of the descriptor.
    dtype / param_dtype: compute and storage dtypes.
  """

  mean_rgb: Sequence[float] = DLIB_MEAN_RGB
  blocks: Sequence[tuple[int, bool]] = BLOCKS
  embedding_dim: int = 128
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
    del train  # Inference network: batch norm is folded into the affine layers.
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"DlibResNet expects face chips [B, H, W, 3], got shape {images.shape}")
    kw = {"dtype": self.dtype, "param_dtype": self.param_dtype}
    n_con = n_affine = 0

    def con_affine(x, features, kernel, stride, padding):
      nonlocal n_con, n_affine
      x = conv(features, kernel, stride, padding, f"con_{n_con}", **kw)(x)
      x = Affine(name=f"affine_{n_affine}", **kw)(x)
      n_con, n_affine = n_con + 1, n_affine + 1
      return x

    x = normalize_rgb(images, self.mean_rgb, self.dtype)
    x = nn.relu(con_affine(x, 32, 7, 2, 0))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")
    for features, down in self.blocks:
      stride, padding = (2, 0) if down else (1, 1)
      y = nn.relu(con_affine(x, features, 3, stride, padding))
      y = con_affine(y, features, 3, 1, 1)
      shortcut = nn.avg_pool(x, (2, 2), strides=(2, 2), padding="VALID") if down else x
      x = nn.relu(add_zero_padded(y, shortcut))
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dense(self.embedding_dim, use_bias=False, name="fc_0", **kw)(x)
    return x.astype(jnp.float32)
