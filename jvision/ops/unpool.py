"""Max pooling that remembers where each maximum came from, and max unpooling that puts it back.

SegNet (Badrinarayanan et al., "SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image
Segmentation", TPAMI 2017, sec. 3) upsamples in its decoder by writing each pooled value back to the position
of its maximum in the encoder and zeros elsewhere. ``max_pool_with_argmax`` pools non-overlapping
``window x window`` blocks of ``[B, H, W, C]`` and returns, per output, the flat index ``row * W + col`` of its
maximum within its image and channel (PyTorch's ``return_indices`` convention; ties go to the first position
in row-major order). ``max_unpool`` scatters values to those indices. Both are jit-able; the gradient of the
pooled values flows to the maxima, and that of the unpooled output back to the values.
"""

from __future__ import annotations

import jax.numpy as jnp


def max_pool_with_argmax(x: jnp.ndarray, window: int = 2) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``[B, H, W, C]`` -> (max ``[B, H/w, W/w, C]``, int32 flat index into ``H * W`` of each max).

  ``H`` and ``W`` must be divisible by ``window``.
  """
  if x.ndim != 4:
    raise ValueError(f"max_pool_with_argmax expects [B, H, W, C]; got shape {tuple(x.shape)}")
  b, h, w, c = x.shape
  if window < 1 or h % window or w % window:
    raise ValueError(f"max_pool_with_argmax needs H and W divisible by window={window}; got {h}x{w} "
                     f"(pad or crop to a multiple of {window})")
  oh, ow = h // window, w // window
  blocks = x.reshape(b, oh, window, ow, window, c).transpose(0, 1, 3, 5, 2, 4).reshape(b, oh, ow, c, -1)
  local = jnp.argmax(blocks, axis=-1)
  values = jnp.take_along_axis(blocks, local[..., None], axis=-1)[..., 0]
  rows = jnp.arange(oh)[None, :, None, None] * window + local // window
  cols = jnp.arange(ow)[None, None, :, None] * window + local % window
  return values, (rows * w + cols).astype(jnp.int32)


def max_unpool(values: jnp.ndarray, indices: jnp.ndarray, output_size: tuple[int, int]) -> jnp.ndarray:
  """Scatters ``values`` ``[B, h, w, C]`` to flat positions ``indices`` (same shape) of a zero
  ``[B, H, W, C]`` (``output_size = (H, W)``); a position written twice keeps the last value."""
  if values.shape != indices.shape or values.ndim != 4:
    raise ValueError(f"values and indices must both be [B, h, w, C]; got {tuple(values.shape)} and "
                     f"{tuple(indices.shape)}")
  b, _, _, c = values.shape
  height, width = output_size
  flat_values = values.reshape(b, -1, c)
  flat_indices = indices.reshape(b, -1, c)
  batch = jnp.arange(b)[:, None, None]
  channel = jnp.arange(c)[None, None, :]
  out = jnp.zeros((b, height * width, c), values.dtype)
  out = out.at[batch, flat_indices, channel].set(flat_values, mode="drop")
  return out.reshape(b, height, width, c)
