"""Transposed convolution with PyTorch ``ConvTranspose2d`` arithmetic, and the bilinear upsampling kernel.

A transposed convolution scatters every input pixel, times the kernel, into the output at ``stride`` spacing
(it is the gradient of a strided convolution). Its output size per spatial axis is

    out = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1,

and it equals a plain convolution of the input dilated by ``stride`` (stride - 1 zeros between pixels), padded
by ``dilation * (kernel - 1) - padding`` on each side (plus ``output_padding`` at the end), with the kernel
flipped spatially. FCN (Long et al., CVPR 2015, sec. 3.3) initializes these layers to bilinear interpolation:
``bilinear_kernel`` builds that kernel (channel c maps only to channel c), ``bilinear_init`` wraps it as a
flax initializer.

Kernels are ``[kh, kw, in, out]`` (flax layout); PyTorch's ``[in, out, kh, kw]`` weight is
``weight.transpose(2, 3, 0, 1)``.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

IntPair = Union[int, Sequence[int]]


def _pair(value: IntPair, name: str) -> tuple[int, int]:
  values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
  if len(values) != 2 or not all(isinstance(v, (int, np.integer)) for v in values):
    raise ValueError(f"{name} must be an int or a pair of ints; got {value!r}")
  return int(values[0]), int(values[1])


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
  """Output length of a transposed convolution along one axis (``ConvTranspose2d``'s formula)."""
  if stride < 1 or dilation < 1 or kernel_size < 1:
    raise ValueError(f"kernel_size, stride and dilation must be >= 1; got {kernel_size}, {stride}, {dilation}")
  if padding < 0:
    raise ValueError(f"padding must be >= 0; got {padding}")
  if not 0 <= output_padding < max(stride, dilation):
    raise ValueError(f"output_padding must be in [0, max(stride, dilation)) = [0, {max(stride, dilation)}); "
                     f"got {output_padding}")
  out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
  if out < 1:
    raise ValueError(f"transposed convolution of size {size} with kernel {kernel_size}, stride {stride}, "
                     f"padding {padding} has no output ({out})")
  return out


def conv_transpose(x: jnp.ndarray, kernel: jnp.ndarray, strides: IntPair = 1, padding: IntPair = 0,
                   output_padding: IntPair = 0, dilation: IntPair = 1,
                   bias: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """``ConvTranspose2d``: ``x`` ``[B, H, W, Cin]``, ``kernel`` ``[kh, kw, Cin, Cout]`` -> ``[B, H', W', Cout]``
  with ``H' = conv_transpose_output_size(H, kh, ...)`` (likewise ``W'``)."""
  if x.ndim != 4:
    raise ValueError(f"conv_transpose expects x [B, H, W, C]; got shape {tuple(x.shape)}")
  if kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
    raise ValueError(f"kernel must be [kh, kw, {x.shape[3]}, Cout] for x {tuple(x.shape)}; "
                     f"got {tuple(kernel.shape)}")
  strides, padding = _pair(strides, "strides"), _pair(padding, "padding")
  output_padding, dilation = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
  pads = []
  for axis in range(2):
    conv_transpose_output_size(x.shape[1 + axis], kernel.shape[axis], strides[axis], padding[axis],
                               output_padding[axis], dilation[axis])  # Validates the arguments.
    edge = dilation[axis] * (kernel.shape[axis] - 1) - padding[axis]
    pads.append((edge, edge + output_padding[axis]))
  flipped = kernel[::-1, ::-1]
  y = jax.lax.conv_general_dilated(
      x, flipped.astype(x.dtype), window_strides=(1, 1), padding=pads, lhs_dilation=strides,
      rhs_dilation=dilation, dimension_numbers=("NHWC", "HWIO", "NHWC"))
  if bias is not None:
    y = y + bias.astype(y.dtype)
  return y


def bilinear_kernel(kernel_size: int, in_channels: int, out_channels: Optional[int] = None,
                    dtype=jnp.float32) -> jnp.ndarray:
  """``[k, k, in, out]`` kernel that makes a stride-``factor`` transposed convolution bilinear upsampling.

  The usual pairing is ``kernel_size = 2 * factor - factor % 2`` (``upsample_padding`` gives the matching
  padding); the 1-D filter is ``1 - |i - centre| / f`` with ``f = ceil(k / 2)`` (FCN's ``upsample_filt``).
  Channel c feeds only output channel c (``in == out`` required).
  """
  out_channels = in_channels if out_channels is None else out_channels
  if in_channels != out_channels:
    raise ValueError(f"a bilinear kernel maps each channel to itself: in ({in_channels}) must equal out "
                     f"({out_channels})")
  if kernel_size < 1:
    raise ValueError(f"kernel_size must be >= 1; got {kernel_size}")
  factor = (kernel_size + 1) // 2
  centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
  taps = 1 - np.abs(np.arange(kernel_size) - centre) / factor
  kernel = np.zeros((kernel_size, kernel_size, in_channels, out_channels), np.float32)
  kernel[:, :, np.arange(in_channels), np.arange(in_channels)] = np.outer(taps, taps)[:, :, None]
  return jnp.asarray(kernel, dtype)


def bilinear_init(key, shape, dtype=jnp.float32) -> jnp.ndarray:
  """A flax initializer for ``[k, k, C, C]`` kernels: ``bilinear_kernel`` (the key is unused)."""
  del key
  if len(shape) != 4 or shape[0] != shape[1]:
    raise ValueError(f"bilinear_init needs a square [k, k, C, C] kernel shape; got {tuple(shape)}")
  return bilinear_kernel(shape[0], shape[2], shape[3], dtype)


def upsample_padding(factor: int) -> tuple[int, int, int]:
  """``(kernel_size, padding, output_padding)`` for which a stride-``factor`` transposed convolution maps
  ``n`` pixels to exactly ``factor * n`` (kernel ``2f - f % 2``)."""
  if factor < 1:
    raise ValueError(f"upsampling factor must be >= 1; got {factor}")
  kernel = 2 * factor - factor % 2
  # (n - 1) f - 2 p + k + op = f n  <=>  2 p - op = k - f.
  excess = kernel - factor
  padding, output_padding = (excess + 1) // 2, (excess + 1) // 2 * 2 - excess
  return kernel, padding, output_padding
