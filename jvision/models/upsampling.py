"""Learnable upsampling layers shared by the segmentation models: a ``ConvTranspose2d`` module.

The arithmetic is ``jvision.ops.upsample.conv_transpose`` (PyTorch's output size, padding and
``output_padding``); ``bilinear=True`` starts the kernel as bilinear interpolation (FCN, Long et al. 2015,
sec. 3.3), which needs as many output as input channels.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import jax.numpy as jnp
from flax import linen as nn

from jvision.ops import upsample

Dtype = Any


class ConvTranspose2d(nn.Module):
  """``[B, H, W, Cin]`` -> ``[B, H', W', features]``, ``H' = (H - 1) s - 2 p + k + output_padding``."""
  features: int
  kernel_size: Union[int, Sequence[int]] = 2
  strides: Union[int, Sequence[int]] = 2
  padding: Union[int, Sequence[int]] = 0
  output_padding: Union[int, Sequence[int]] = 0
  use_bias: bool = True
  bilinear: bool = False
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kh, kw = upsample._pair(self.kernel_size, "kernel_size")
    if self.bilinear and x.shape[-1] != self.features:
      raise ValueError(f"a bilinear-initialized transposed convolution keeps the channels; input has "
                       f"{x.shape[-1]}, features is {self.features}")
    init = upsample.bilinear_init if self.bilinear else nn.initializers.lecun_normal()
    kernel = self.param("kernel", init, (kh, kw, x.shape[-1], self.features), self.param_dtype)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype) if self.use_bias else None
    x = jnp.asarray(x, self.dtype)
    return upsample.conv_transpose(x, jnp.asarray(kernel, self.dtype), self.strides, self.padding,
                                   self.output_padding, bias=None if bias is None else jnp.asarray(bias, self.dtype))


def bilinear_upsampler(features: int, factor: int, **kwargs) -> ConvTranspose2d:
  """A stride-``factor`` transposed convolution mapping ``n`` to ``factor * n`` pixels, bilinear at init."""
  kernel, padding, output_padding = upsample.upsample_padding(factor)
  return ConvTranspose2d(features, kernel, factor, padding, output_padding, bilinear=True, **kwargs)
