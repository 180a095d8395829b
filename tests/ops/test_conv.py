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


LARGE_CASES = [  # Output maps of more than SMALL_OUTPUT_PIXELS pixels: conv_nhwc.
    (6, 3, 1, ((1, 1), (1, 1)), 1),
    (7, 3, 2, "SAME", 1),
    (9, 3, 1, ((0, 1), (2, 0)), 2),
    (8, 1, 2, "VALID", 1),
    (12, 7, 2, ((3, 3), (3, 3)), 1),
]


def _large_case(size, kernel, strides, padding, dilation, dtype=jnp.float32):
  x = jnp.asarray(RNG.normal(size=(3, size, size + 1, 5)), dtype)
  w = jnp.asarray(RNG.normal(size=(kernel, kernel, 5, 4)), dtype)
  kwargs = dict(window_strides=(strides, strides), padding=padding, rhs_dilation=(dilation, dilation),
                dimension_numbers=NHWC)
  return x, w, functools.partial(conv.conv_general_dilated, **kwargs), functools.partial(
      lax.conv_general_dilated, **kwargs)


@pytest.mark.parametrize("case", LARGE_CASES)
def test_large_maps_give_xla_values_and_gradients(case):
  x, w, ours, xla = _large_case(*case)
  assert "custom_jvp_call" in str(jax.make_jaxpr(ours)(x, w))
  np.testing.assert_array_equal(ours(x, w), xla(x, w))
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
  # The same XLA convolutions, the kernel gradient's input transposed in another place: equal to round-off.
  for a, b in zip(jax.jit(jax.grad(loss(ours), (0, 1)))(x, w), jax.jit(jax.grad(loss(xla), (0, 1)))(x, w)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * float(np.abs(b).max()))


@pytest.mark.parametrize("case", LARGE_CASES[:3])
def test_large_maps_support_forward_mode_and_second_derivatives(case):
  x, w, ours, xla = _large_case(*case)
  dx, dw = jnp.ones_like(x) / 3, jnp.cos(w)
  for a, b in zip(jax.jvp(ours, (x, w), (dx, dw)), jax.jvp(xla, (x, w), (dx, dw))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  # A second derivative that needs both tangent terms: d/dx of the kernel gradient.
  mixed = lambda f: jax.grad(lambda x: jnp.sum(jnp.tanh(jax.grad(lambda w: jnp.sum(f(x, w) ** 2))(w))))
  a, b = mixed(ours)(x), mixed(xla)(x)
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(np.abs(b).max()))


def test_large_maps_in_bfloat16_and_with_a_preferred_type():
  x, w, ours, xla = _large_case(6, 3, 1, "SAME", 1, dtype=jnp.bfloat16)
  for kwargs in ({}, {"preferred_element_type": jnp.float32}):
    a, b = ours(x, w, **kwargs), xla(x, w, **kwargs)
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(np.float32(a), np.float32(b))
    grads = [jax.grad(lambda x, w: jnp.sum(f(x, w, **kwargs).astype(jnp.float32)), (0, 1))(x, w)
             for f in (ours, xla)]
    for a, b in zip(*grads):
      assert a.dtype == b.dtype == jnp.bfloat16
      np.testing.assert_allclose(np.float32(a), np.float32(b), rtol=2 ** -7, atol=1e-2)


def test_kernel_gradient_transposes_its_input_apart_from_the_producer():
  # The CNN's pattern, BatchNorm and ReLU feeding a convolution: the kernel gradient's input transpose is
  # taken in an XLA conditional, where XLA cannot fuse it with the ReLU (conv.transpose_unfused). If a future
  # XLA folds the conditional away, this fails: the speed-up is gone and the code should be revisited.
  x, w, ours, _ = _large_case(6, 3, 1, "SAME", 1)
  scale = jnp.full((5,), 1.5)
  loss = lambda x, w, s: jnp.sum(ours(jax.nn.relu(x * s), w) ** 2)
  compiled = jax.jit(jax.grad(loss, 1)).lower(x, w, scale).compile().as_text()
  assert " conditional(" in compiled
  # Only the input's gradient asked for: no kernel term, no transpose (symbolic zeros).
  assert "cond" not in str(jax.make_jaxpr(jax.grad(loss, 0))(x, w, scale))
  assert "cond" in str(jax.make_jaxpr(jax.grad(loss, 1))(x, w, scale))


def test_transpose_unfused_is_a_transpose():
  x = jnp.arange(24.0).reshape(1, 2, 3, 4)
  np.testing.assert_array_equal(conv.transpose_unfused(x, (3, 1, 2, 0), anchor=jnp.ones(2)),
                                x.transpose(3, 1, 2, 0))
  # A NaN anchor picks the other branch, which is the same transpose; an empty one, no conditional.
  np.testing.assert_array_equal(conv.transpose_unfused(x, (3, 1, 2, 0), anchor=jnp.full(2, jnp.nan)),
                                x.transpose(3, 1, 2, 0))
  np.testing.assert_array_equal(conv.transpose_unfused(x, (3, 1, 2, 0), anchor=jnp.ones(0)),
                                x.transpose(3, 1, 2, 0))
