"""jvision/ops/conv.py: the matrix-product path equals XLA's convolution (values and gradients) and is taken
only where it is meant to be."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from jax import lax

from jvision.models import layers
from jvision.ops import conv

RNG = np.random.default_rng(0)
NHWC = ("NHWC", "HWIO", "NHWC")


def _uses_xla_conv(fn, *args) -> bool:
  return "conv_general_dilated" in str(jax.make_jaxpr(fn)(*args))


@pytest.mark.parametrize("size, kernel, strides, padding, dilation", [
    (2, 3, 1, ((1, 1), (1, 1)), 1),  # ResNet's layer3 at 32 px: 2x2 out.
    (1, 3, 1, ((1, 1), (1, 1)), 1),  # 1x1 map, mostly padding.
    (4, 1, 2, ((0, 0), (0, 0)), 1),  # ResNet's 1x1/2 projection.
    (5, 3, 2, "SAME", 1),
    (5, 3, 1, ((0, 1), (2, 0)), 2),  # Asymmetric padding and kernel dilation.
    (6, 7, 3, ((3, 3), (3, 3)), 1),  # A 7x7 stem on a tiny image.
    (1, 3, 2, ((2, 2), (2, 2)), 1),  # Taps 0 and 2 read the input, tap 1 only padding: not contiguous.
    (1, 1, 2, ((1, 1), (1, 1)), 1),  # Every output reads only padding: zeros.
])
def test_matrix_product_path_equals_xla_convolution_and_its_gradients(size, kernel, strides, padding, dilation):
  x = jnp.asarray(RNG.normal(size=(3, size, size + 1, 5)), jnp.float32)
  w = jnp.asarray(RNG.normal(size=(kernel, kernel, 5, 4)), jnp.float32)
  args = ((strides, strides), padding)
  kwargs = dict(rhs_dilation=(dilation, dilation), dimension_numbers=NHWC)
  ours = functools.partial(conv.conv_general_dilated, window_strides=args[0], padding=args[1], **kwargs)
  xla = functools.partial(lax.conv_general_dilated, window_strides=args[0], padding=args[1], **kwargs)
  assert not _uses_xla_conv(ours, x, w)  # All these outputs have <= SMALL_OUTPUT_PIXELS pixels.
  np.testing.assert_allclose(ours(x, w), xla(x, w), rtol=1e-5, atol=1e-5)
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
  # Sums of up to 245 products in another order: round-off relative to the largest gradient entry.
  for a, b in zip(jax.grad(loss(ours), (0, 1))(x, w), jax.grad(loss(xla), (0, 1))(x, w)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(np.abs(b).max()))


@pytest.mark.parametrize("size, strides, taps", [(1, 1, 1), (2, 2, 4), (2, 1, 9)])
def test_taps_that_read_only_padding_are_left_out(size, strides, taps):
  # ResNet-18's layer4 on 32 px inputs: a 3x3 convolution of a 1x1 map reads the input through its centre
  # tap only, a 3x3/2 one of a 2x2 map through four taps.
  x = jnp.ones((2, size, size, 8))
  w = jnp.ones((3, 3, 8, 4))
  jaxpr = jax.make_jaxpr(lambda x, w: conv.conv_general_dilated(
      x, w, (strides, strides), ((1, 1), (1, 1)), dimension_numbers=NHWC))(x, w).jaxpr
  [dot] = [eqn for eqn in jaxpr.eqns if eqn.primitive.name == "dot_general"]
  assert dot.invars[1].aval.shape == (taps * 8, 4)


def test_other_convolutions_go_to_xla_unchanged():
  big = jnp.ones((1, 8, 8, 2))
  w = jnp.ones((3, 3, 2, 2))
  same = functools.partial(conv.conv_general_dilated, window_strides=(1, 1), padding="SAME",
                           dimension_numbers=NHWC)
  assert _uses_xla_conv(same, big, w)  # 64 output pixels.
  small = jnp.ones((1, 2, 2, 2))
  grouped = functools.partial(same, feature_group_count=2)
  assert _uses_xla_conv(grouped, small, jnp.ones((3, 3, 1, 2)))  # Depthwise / grouped.
  transposed = functools.partial(conv.conv_general_dilated, window_strides=(1, 1), padding=((1, 1), (1, 1)),
                                 lhs_dilation=(2, 2), dimension_numbers=NHWC)
  assert _uses_xla_conv(transposed, small, w)
  nchw = functools.partial(conv.conv_general_dilated, window_strides=(1, 1), padding="SAME")
  assert _uses_xla_conv(nchw, jnp.ones((1, 2, 2, 2)), jnp.ones((2, 2, 3, 3)))  # lax's default NCHW/OIHW.


def test_layers_conv_is_flax_conv_with_the_same_parameters():
  x = jnp.asarray(RNG.normal(size=(2, 2, 2, 3)), jnp.float32)
  ours, theirs = layers.Conv(4, (3, 3), name="c"), nn.Conv(4, (3, 3), name="c")
  variables = theirs.init(jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, ours.init(jax.random.key(0), x)) == jax.tree.map(jnp.shape, variables)
  np.testing.assert_allclose(ours.apply(variables, x), theirs.apply(variables, x), rtol=1e-5, atol=1e-6)
  assert not _uses_xla_conv(lambda v: ours.apply(v, x), variables)


def test_bfloat16_products_accumulate_in_float32_and_round_once():
  x = jnp.asarray(RNG.normal(size=(4, 2, 2, 64)), jnp.bfloat16)
  w = jnp.asarray(RNG.normal(size=(3, 3, 64, 8)) / 24, jnp.bfloat16)
  ours = lambda x, w: conv.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC)
  jaxpr = jax.make_jaxpr(ours)(x, w).jaxpr
  [dot] = [eqn for eqn in jaxpr.eqns if eqn.primitive.name == "dot_general"]
  assert dot.params["preferred_element_type"] == jnp.float32
  out = ours(x, w)
  assert out.dtype == jnp.bfloat16
  exact = lax.conv_general_dilated(x.astype(jnp.float32), w.astype(jnp.float32), (1, 1), "SAME",
                                   dimension_numbers=NHWC)
  # One rounding of the float32 sum: within half a bfloat16 ulp (2^-8 relative) of the exact result.
  np.testing.assert_allclose(np.float32(out), exact, rtol=2 ** -8, atol=1e-6)


def test_integer_products_keep_their_type():
  # Only half-precision floats accumulate in float32: an int8 convolution stays int8 and wraps around as
  # XLA's does (36 products of 9 make 324, which wraps to 68; through float32 it would saturate at 127).
  x = jnp.full((2, 3, 3, 4), 3, jnp.int8)  # The centre output reads all nine taps.
  w = jnp.full((3, 3, 4, 5), 3, jnp.int8)
  ours = conv.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC)
  assert ours.dtype == jnp.int8
  np.testing.assert_array_equal(ours, lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC))
