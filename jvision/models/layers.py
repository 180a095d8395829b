"""Layers shared by the models.

``Conv`` is ``flax.linen.Conv`` (same fields, parameters and names) computing through
``jvision.ops.conv.conv_general_dilated``, which turns small CPU output maps into one matrix product instead
of XLA's slow CPU convolution there; every other convolution is XLA's own.

``BatchNorm`` is ``flax.linen.BatchNorm`` (same fields, variables and names, so checkpoints are
interchangeable) whose training-mode statistics and their gradient go through
``jvision.ops.batch_norm.batch_norm_train`` on CPU, where XLA's reductions are slow; with running averages,
a mask, a named (pmap) axis, another feature axis or non-default variance settings, and on other backends,
it is flax's own.
"""

import functools

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax.linen import dtypes

from jvision.ops import batch_norm as batch_norm_ops
from jvision.ops import conv as conv_ops

Conv = functools.partial(nn.Conv, conv_general_dilated=conv_ops.conv_general_dilated)


class BatchNorm(nn.BatchNorm):
  """``flax.linen.BatchNorm`` with CPU training-mode statistics as matrix-vector products (module docstring)."""

  @nn.compact
  def __call__(self, x, use_running_average=None, *, mask=None):
    running = nn.merge_param("use_running_average", self.use_running_average, use_running_average)
    if (running or mask is not None or self.axis_name is not None
        or self.axis not in (-1, x.ndim - 1) or not self.use_fast_variance
        or not self.force_float32_reductions or jax.default_backend() != "cpu"):
      return super().__call__(x, use_running_average, mask=mask)
    features = (x.shape[-1],)
    ra_mean = self.variable("batch_stats", "mean", lambda s: jnp.zeros(s, jnp.float32), features)
    ra_var = self.variable("batch_stats", "var", lambda s: jnp.ones(s, jnp.float32), features)
    scale = self.param("scale", self.scale_init, features, self.param_dtype) if self.use_scale else None
    bias = self.param("bias", self.bias_init, features, self.param_dtype) if self.use_bias else None
    dtype = dtypes.canonicalize_dtype(*(a for a in (x, scale, bias) if a is not None), dtype=self.dtype)
    y, mean, var = batch_norm_ops.batch_norm_train(
        x, jnp.ones(features, jnp.float32) if scale is None else scale,
        jnp.zeros(features, jnp.float32) if bias is None else bias, self.epsilon, dtype)
    if not self.is_initializing():
      ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
      ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
    return y
