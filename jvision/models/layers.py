"""Layers shared by the models.

``Conv`` is ``flax.linen.Conv`` (same fields, parameters and names) computing through
``jvision.ops.conv.conv_general_dilated``, which turns small CPU output maps into one matrix product instead
of XLA's slow CPU convolution there; every other convolution is XLA's own.
"""

import functools

from flax import linen as nn

from jvision.ops import conv as conv_ops

Conv = functools.partial(nn.Conv, conv_general_dilated=conv_ops.conv_general_dilated)
