"""Transposed convolution: a 2x2 -> 3x3 example by hand, PyTorch's conv_transpose2d, the bilinear kernel."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.ops import upsample

try:
  import torch
except ImportError:  # PyTorch is an optional reference implementation: its comparisons skip without it.
  torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (optional reference) is not installed")


@needs_torch
def test_two_by_two_to_three_by_three_by_hand():
  # x = [[1, 2], [3, 4]], kernel [[1, 0], [2, -1]], stride 1, no padding: out = (2 - 1) + 2 = 3.
  # By hand: dilate (stride 1: nothing), pad by k - 1 = 1 on each side, convolve with the flipped kernel
  # [[-1, 2], [0, 1]]. Scatter view: each x[i, j] adds x[i, j] * kernel to out[i:i+2, j:j+2].
  x = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
  kernel = jnp.array([[1.0, 0.0], [2.0, -1.0]]).reshape(2, 2, 1, 1)
  expected = np.array([[1, 2, 0],
                       [5, 7, -2],
                       [6, 5, -4]], np.float32)
  out = upsample.conv_transpose(x, kernel)
  chex.assert_shape(out, (1, 3, 3, 1))
  np.testing.assert_allclose(out[0, :, :, 0], expected)
  # Independent reference: PyTorch ([in, out, kh, kw] weight).
  reference = torch.nn.functional.conv_transpose2d(torch.tensor(np.asarray(x)).permute(0, 3, 1, 2),
                                                   torch.tensor(np.asarray(kernel)).permute(2, 3, 0, 1))
  np.testing.assert_allclose(reference[0, 0].numpy(), expected)


@pytest.mark.parametrize("strides,padding,output_padding,dilation", [
    ((2, 2), (0, 0), (0, 0), 1), ((2, 3), (1, 0), (1, 2), 1), ((3, 1), (2, 1), (1, 0), 1), (2, 1, 0, 2)])
@needs_torch
def test_matches_pytorch(strides, padding, output_padding, dilation):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
  kernel = rng.normal(size=(3, 4, 3, 2)).astype(np.float32)
  bias = rng.normal(size=(2,)).astype(np.float32)
  out = jax.jit(lambda x, k, b: upsample.conv_transpose(x, k, strides, padding, output_padding, dilation, b))(
      x, kernel, bias)
  reference = torch.nn.functional.conv_transpose2d(
      torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(kernel).permute(2, 3, 0, 1), torch.tensor(bias),
      stride=strides, padding=padding, output_padding=output_padding, dilation=dilation).permute(0, 2, 3, 1)
  assert out.shape == tuple(reference.shape)
  s, p, op = (np.broadcast_to(v, 2) for v in (strides, padding, output_padding))
  for axis in range(2):
    assert out.shape[1 + axis] == upsample.conv_transpose_output_size(
        x.shape[1 + axis], kernel.shape[axis], s[axis], p[axis], op[axis], dilation)
  np.testing.assert_allclose(out, reference.numpy(), atol=1e-5)


def test_bilinear_kernel_interpolates_linearly():
  # A ramp upsampled by a bilinear transposed conv stays a ramp away from the border (zero padding outside).
  factor = 2
  kernel_size, padding, output_padding = upsample.upsample_padding(factor)
  assert (kernel_size, padding, output_padding) == (4, 1, 0)
  x = jnp.tile(jnp.arange(6.0)[None, :], (6, 1)).reshape(1, 6, 6, 1)
  out = upsample.conv_transpose(x, upsample.bilinear_kernel(kernel_size, 1), factor, padding, output_padding)
  chex.assert_shape(out, (1, 12, 12, 1))
  # Output pixel centre j sits at input coordinate (j + 0.5) / 2 - 0.5: 0.25 steps of the ramp.
  np.testing.assert_allclose(out[0, 4, 2:10, 0], (np.arange(2, 10) + 0.5) / 2 - 0.5, atol=1e-6)
  # FCN's 1-D filter for factor 2 by hand: [0.25, 0.75, 0.75, 0.25].
  np.testing.assert_allclose(upsample.bilinear_kernel(4, 1)[:, 1, 0, 0] / 0.75, [0.25, 0.75, 0.75, 0.25])
  kernel = upsample.bilinear_init(None, (4, 4, 3, 3))
  assert float(jnp.abs(kernel[:, :, 0, 1]).sum()) == 0.0  # Channels do not mix.


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 8, 32])
def test_upsample_padding_gives_exact_multiples(factor):
  kernel, padding, output_padding = upsample.upsample_padding(factor)
  for n in (1, 2, 7):
    assert upsample.conv_transpose_output_size(n, kernel, factor, padding, output_padding) == factor * n


def test_errors_name_the_problem():
  with pytest.raises(ValueError, match="output_padding must be in"):
    upsample.conv_transpose_output_size(4, 3, stride=2, output_padding=2)
  with pytest.raises(ValueError, match=r"kernel must be \[kh, kw, 3, Cout\]"):
    upsample.conv_transpose(jnp.zeros((1, 2, 2, 3)), jnp.zeros((2, 2, 4, 1)))
  with pytest.raises(ValueError, match="in .* must equal out"):
    upsample.bilinear_kernel(4, 2, 3)
