"""Convolution with a matrix-product path for small output maps on CPU.

XLA's CPU convolution (Eigen's spatial convolution) is pathologically slow when the output map is tiny: a 3x3
convolution of 256 channels producing a 2x2 map for a batch of 128 (forward and gradients) ran ~39x slower
than the same arithmetic as one matrix product (``python experiments/benchmarks/conv_paths.py``). ResNet-18 on 32x32 inputs ends in 2x2
and 1x1 maps, which is why its train step ran at a tenth of PyTorch's speed.

``conv_general_dilated`` takes the arguments of ``jax.lax.conv_general_dilated`` (so ``flax.linen.Conv``
accepts it as its ``conv_general_dilated`` field). For a 2-D, NHWC / HWIO, ungrouped convolution without input
dilation whose output has at most ``SMALL_OUTPUT_PIXELS`` pixels, on the CPU backend, it gathers the
``kh * kw`` shifted (strided, dilated) views of the padded input into patches ``[B, Ho, Wo, kh*kw*Cin]`` and
multiplies them by the kernel reshaped to ``[kh*kw*Cin, Cout]`` (im2col). Gradients flow through slices, a pad
and a dot, which XLA runs fast. Kernel taps whose every output reads only padding are left out (one tap of
nine for a 3x3 convolution of a 1x1 map), the kept taps are one slice of the kernel when they are contiguous
(its gradient is then one pad), and half-precision products accumulate in float32 and are rounded once.
The other CPU NHWC convolutions go to ``conv_nhwc``: XLA's convolution, whose kernel gradient reads the input
transposed apart from the input's producer (``transpose_unfused``). Everything else goes to
``lax.conv_general_dilated`` unchanged. The matrix-product path sums in a different order: its results agree
to float round-off, not bit for bit.
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence, Union

import jax
import jax.numpy as jnp
from jax import lax

# Output maps up to this many pixels (1x1 to 3x3) take the matrix-product path: 2x2 and 1x1 maps were 2-40x
# faster that way, 4x4 maps even, 8x8 and larger faster through XLA's convolution (same benchmark).
SMALL_OUTPUT_PIXELS = 9
_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))
# The same convolution of an input stored transposed, ``[Cin, H, W, B]``.
_CHWN = lax.ConvDimensionNumbers(lhs_spec=(3, 0, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))


def _is_nhwc_hwio(lhs_ndim: int, dimension_numbers: Any) -> bool:
  if lhs_ndim != 4 or dimension_numbers is None:
    return False
  if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
    return tuple(map(tuple, dimension_numbers)) == tuple(map(tuple, _NHWC))
  return tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")


def conv_im2col(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int],
                padding: Sequence[tuple[int, int]], rhs_dilation: Optional[Sequence[int]] = None,
                precision: Any = None, preferred_element_type: Any = None) -> jax.Array:
  """``[B, H, W, Cin]`` x ``[kh, kw, Cin, Cout]`` -> ``[B, Ho, Wo, Cout]`` as patches times a matrix.

  ``padding`` is explicit ``((top, bottom), (left, right))``, non-negative.
  """
  kh, kw, cin, cout = rhs.shape
  sh, sw = window_strides
  dh, dw = rhs_dilation or (1, 1)
  x = jnp.pad(lhs, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
  height, width = x.shape[1:3]
  out_h = (height - dh * (kh - 1) - 1) // sh + 1
  out_w = (width - dw * (kw - 1) - 1) // sw + 1
  if out_h < 1 or out_w < 1:
    raise ValueError(f"kernel {rhs.shape[:2]} (dilation {dh, dw}) does not fit the padded input "
                     f"{height}x{width}")
  result_type = preferred_element_type or jnp.result_type(lhs, rhs)
  # A kernel row (column) whose every output reads only padding contributes zeros: it is left out, which
  # on ResNet's 1x1 maps keeps one tap of nine.
  rows = [i for i in range(kh) if _reads_input(i * dh, out_h, sh, padding[0][0], lhs.shape[1])]
  cols = [j for j in range(kw) if _reads_input(j * dw, out_w, sw, padding[1][0], lhs.shape[2])]
  if not rows or not cols:
    return jnp.zeros((lhs.shape[0], out_h, out_w, cout), result_type)
  views = [x[:, i * dh:i * dh + (out_h - 1) * sh + 1:sh, j * dw:j * dw + (out_w - 1) * sw + 1:sw, :]
           for i in rows for j in cols]
  patches = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)  # (i, j, c) order, as rhs.
  if rows == list(range(rows[0], rows[-1] + 1)) and cols == list(range(cols[0], cols[-1] + 1)):
    kernel = rhs[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # One slice: its gradient is one pad.
  else:
    kernel = jnp.stack([rhs[i, j] for i in rows for j in cols])
  kernel = kernel.reshape(len(rows) * len(cols) * cin, cout)
  # A half-precision product accumulates in float32 and is rounded once: XLA's CPU matrix product with a
  # bfloat16 result runs 2-6x slower than with a float32 one (``experiments/benchmarks/cpu_kernels.py``).
  half = jnp.issubdtype(result_type, jnp.inexact) and jnp.dtype(result_type).itemsize < 4
  accumulate = jnp.float32 if half else preferred_element_type
  out = lax.dot_general(patches, kernel, (((3,), (0,)), ((), ())), precision=precision,
                        preferred_element_type=accumulate)
  return out.astype(result_type)


def _reads_input(offset: int, outputs: int, stride: int, pad_before: int, size: int) -> bool:
  """Whether a kernel tap at ``offset`` (in the padded input) reads an input element for some output."""
  return any(0 <= o * stride + offset - pad_before < size for o in range(outputs))


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int],
                         padding: Union[str, Sequence[tuple[int, int]]],
                         lhs_dilation: Optional[Sequence[int]] = None,
                         rhs_dilation: Optional[Sequence[int]] = None, dimension_numbers: Any = None,
                         feature_group_count: int = 1, batch_group_count: int = 1, precision: Any = None,
                         preferred_element_type: Any = None) -> jax.Array:
  """``lax.conv_general_dilated``, through ``conv_im2col`` for small CPU output maps (module docstring)."""
  def through_xla():
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                                    rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
                                    feature_group_count=feature_group_count,
                                    batch_group_count=batch_group_count, precision=precision,
                                    preferred_element_type=preferred_element_type)

  if (jax.default_backend() != "cpu" or not _is_nhwc_hwio(lhs.ndim, dimension_numbers)
      or feature_group_count != 1 or batch_group_count != 1 or any(d != 1 for d in (lhs_dilation or (1, 1)))):
    return through_xla()
  rhs_dilation = tuple(rhs_dilation or (1, 1))
  if isinstance(padding, str):
    effective = [(k - 1) * d + 1 for k, d in zip(rhs.shape[:2], rhs_dilation)]
    padding = lax.padtype_to_pads(lhs.shape[1:3], effective, window_strides, padding)
  padding = tuple((int(lo), int(hi)) for lo, hi in padding)
  if any(p < 0 for pair in padding for p in pair):
    return through_xla()
  out_pixels = 1
  for size, (lo, hi), k, d, s in zip(lhs.shape[1:3], padding, rhs.shape[:2], rhs_dilation, window_strides):
    out_pixels *= max(0, (size + lo + hi - (k - 1) * d - 1) // s + 1)
  if out_pixels == 0:
    return through_xla()
  if out_pixels > SMALL_OUTPUT_PIXELS:
    return conv_nhwc(lhs, rhs, tuple(window_strides), padding, rhs_dilation, precision, preferred_element_type)
  return conv_im2col(lhs, rhs, window_strides, padding, rhs_dilation, precision, preferred_element_type)


def transpose_unfused(x: jax.Array, axes: Sequence[int], anchor: jax.Array) -> jax.Array:
  """``jnp.transpose(x, axes)``, computed where XLA cannot fuse it with the ops that produce ``x``.

  XLA's CPU backend fuses a transpose with the elementwise ops that compute its operand (a BatchNorm and its
  ReLU, say) into one loop that reads the operand at a large stride: 52.7 ms against 18.3 for the plain
  transpose of the CNN's 128x32x32x64 activations, 26.8 for the ReLU and then the plain transpose
  (``python experiments/benchmarks/cpu_kernels.py``, last table). XLA never fuses across a conditional, so
  the transpose is taken in one, both of whose branches are the transpose. Its predicate reads one element of
  ``anchor`` (take a value every device holds whole, e.g. a replicated kernel, so that no collective is
  needed); which branch runs does not matter.
  """
  transpose = functools.partial(jnp.transpose, axes=tuple(axes))
  if anchor.size == 0:
    return transpose(x)
  probe = anchor.reshape(-1)[0]
  return lax.cond(probe == probe, transpose, transpose, x)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5, 6))
def conv_nhwc(lhs: jax.Array, rhs: jax.Array, window_strides: tuple[int, ...],
              padding: tuple[tuple[int, int], ...], rhs_dilation: tuple[int, ...], precision: Any = None,
              preferred_element_type: Any = None) -> jax.Array:
  """``lax.conv_general_dilated`` of an NHWC input and an HWIO kernel (explicit padding), whose kernel
  gradient reads the input through ``transpose_unfused``.

  XLA computes a kernel gradient as a convolution of the input stored ``[Cin, H, W, B]`` with the output
  gradient, and transposes the input to that layout first. Left to itself it fuses the transpose with the
  input's producer (docstring of ``transpose_unfused``), which cost the CNN's train step about 5% (``python
  experiments/benchmarks/train_throughput.py --conv-kernel-gradient xla`` is the A/B). Here the tangent of
  the kernel is convolved with the input transposed explicitly, which JAX turns into that same
  kernel-gradient convolution. Values are XLA's bit for bit, gradients come from the same XLA convolutions
  and agree to round-off; forward-mode and higher-order derivatives work as for ``lax.conv_general_dilated``.
  """
  return lax.conv_general_dilated(lhs, rhs, window_strides, padding, rhs_dilation=rhs_dilation,
                                  dimension_numbers=_NHWC, precision=precision,
                                  preferred_element_type=preferred_element_type)


def _conv_nhwc_jvp(window_strides, padding, rhs_dilation, precision, preferred_element_type, primals, tangents):
  lhs, rhs = primals
  lhs_dot, rhs_dot = tangents
  conv = functools.partial(lax.conv_general_dilated, window_strides=window_strides, padding=padding,
                           rhs_dilation=rhs_dilation, precision=precision,
                           preferred_element_type=preferred_element_type)
  out = conv(lhs, rhs, dimension_numbers=_NHWC)
  terms = []
  if not isinstance(lhs_dot, jax.custom_derivatives.SymbolicZero):
    terms.append(conv(lhs_dot, rhs, dimension_numbers=_NHWC))
  if not isinstance(rhs_dot, jax.custom_derivatives.SymbolicZero):  # Skipped when only the input is differentiated.
    terms.append(conv(transpose_unfused(lhs, (3, 1, 2, 0), anchor=rhs), rhs_dot, dimension_numbers=_CHWN))
  # JAX calls this rule only when some tangent is nonzero, so ``terms`` is never empty.
  return out, functools.reduce(jnp.add, terms)


conv_nhwc.defjvp(_conv_nhwc_jvp, symbolic_zeros=True)
