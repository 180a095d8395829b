"""jvision/ops/pool.py: max pooling equals flax's (values and gradients) through strided slices, never through
reduce_window on CPU."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from jvision.ops import pool

RNG = np.random.default_rng(0)


def _uses_reduce_window(fn, *args) -> bool:
  return "reduce_window" in str(jax.make_jaxpr(fn)(*args))


@pytest.mark.parametrize("shape, window, strides, padding", [
    ((3, 8, 6, 4), (2, 2), (2, 2), "SAME"),  # The CNN's and VGG's 2x2/2 pooling.
    ((3, 8, 6, 4), (2, 2), (2, 2), "VALID"),
    ((2, 9, 6, 3), (3, 2), (3, 2), ((0, 0), (0, 0))),  # Non-square windows, explicit zero padding.
    ((2, 12, 5), (4,), (4,), "VALID"),  # 1-D: [B, L, C].
    ((3, 7, 6, 4), (2, 2), (2, 2), "SAME"),  # Odd height: SAME pads with -inf.
    ((3, 7, 6, 4), (2, 2), (2, 2), "VALID"),  # Odd height: VALID drops a row.
    ((3, 8, 8, 4), (3, 3), (2, 2), ((1, 1), (1, 1))),  # ResNet's overlapping 3x3/2 stem pooling.
    ((3, 8, 8, 4), (2, 2), (1, 1), "VALID"),  # Overlapping windows.
    ((2, 7, 7, 3), (3, 3), (2, 2), ((0, 2), (1, 0))),  # Uneven padding.
    ((2, 9, 5), (3,), (2,), "SAME"),  # 1-D, overlapping.
])
@pytest.mark.parametrize("ties", [False, True])
def test_values_and_gradients_equal_flax(shape, window, strides, padding, ties):
  x = jnp.asarray(RNG.normal(size=shape), jnp.float32)
  if ties:  # Half-integers: many windows hold their maximum twice, some (overlapping) windows share it.
    x = jnp.round(2 * x) / 2
  # Integer cotangents: an input that is the maximum of several overlapping windows sums their cotangents,
  # exactly in any order, so flax's gradient and ours can be compared bit for bit.
  cotangent = jnp.asarray(RNG.integers(-4, 5, size=nn.max_pool(x, window, strides, padding).shape),
                          jnp.float32)
  ours = lambda v: pool.max_pool(v, window, strides, padding)
  theirs = lambda v: nn.max_pool(v, window, strides, padding)
  np.testing.assert_array_equal(ours(x), theirs(x))
  grad = lambda f: jax.grad(lambda v: jnp.vdot(f(v), cotangent))(x)
  np.testing.assert_array_equal(grad(ours), grad(theirs))
  assert _uses_reduce_window(ours, x) is False
  assert "name=_strided_max_pool" in str(jax.make_jaxpr(ours)(x))


def test_overlapping_gradients_equal_flax_to_round_off_with_real_cotangents():
  x = jnp.asarray(RNG.normal(size=(4, 16, 16, 8)), jnp.float32)
  cotangent = jnp.asarray(RNG.normal(size=(4, 8, 8, 8)), jnp.float32)
  grad = lambda f: jax.grad(lambda v: jnp.vdot(f(v, (3, 3), (2, 2), ((1, 1), (1, 1))), cotangent))(x)
  np.testing.assert_allclose(grad(pool.max_pool), grad(nn.max_pool), rtol=1e-6, atol=1e-6)


def test_integer_inputs_and_negative_padding_go_to_flax():
  ints = jnp.arange(2 * 6 * 6 * 1, dtype=jnp.int32).reshape(2, 6, 6, 1)
  for window, strides in (((3, 3), (2, 2)), ((2, 2), (2, 2))):
    assert _uses_reduce_window(lambda v: pool.max_pool(v, window, strides, "SAME"), ints)
    np.testing.assert_array_equal(pool.max_pool(ints, window, strides, "SAME"),
                                  nn.max_pool(ints, window, strides, "SAME"))
  x = jnp.asarray(RNG.normal(size=(1, 6, 6, 2)), jnp.float32)
  cropped = lambda v: pool.max_pool(v, (2, 2), (1, 1), ((-1, 0), (0, 0)))
  assert _uses_reduce_window(cropped, x)
  np.testing.assert_array_equal(cropped(x), nn.max_pool(x, (2, 2), (1, 1), ((-1, 0), (0, 0))))


def test_default_strides_are_flax_ones():
  x = jnp.asarray(RNG.normal(size=(1, 4, 4, 2)), jnp.float32)
  np.testing.assert_array_equal(pool.max_pool(x, (2, 2)), nn.max_pool(x, (2, 2)))
  assert pool.max_pool(x, (2, 2)).shape == (1, 3, 3, 2)


def test_tied_maxima_give_the_gradient_to_the_first_as_flax_does():
  # Windows holding 1, 1, 0, -1 (and all zeros, as after a ReLU): the first maximum takes all the gradient.
  x = jnp.array([[1.0, 1.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0]]).reshape(1, 2, 4, 1)
  for max_pool in (pool.max_pool, nn.max_pool):
    grad = jax.grad(lambda v: 4.0 * max_pool(v, (2, 2), (2, 2)).sum())(x)
    np.testing.assert_array_equal(grad.reshape(2, 4), [[4.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0]])


def test_gradient_is_finite_with_xla_optimizations_off():
  # The YOLO overfitting test's setting, where a gradient that compares the input with the pooled maximum
  # went NaN: BatchNorm and a leaky ReLU feeding the pooling, XLA's optimizations off.
  x = jnp.asarray(RNG.normal(size=(4, 16, 16, 8)), jnp.float32)
  scale, shift = jnp.float32(1.3), jnp.float32(0.2)

  def loss(v):
    normalized = (v - v.mean(axis=(0, 1, 2))) * jax.lax.rsqrt(v.var(axis=(0, 1, 2)) + 1e-5) * scale + shift
    return jnp.sum(pool.max_pool(nn.leaky_relu(normalized, 0.1), (2, 2), (2, 2)) ** 2)

  grad = jax.jit(jax.grad(loss))(x)  # conftest turns XLA's optimizations off for this test.
  assert np.all(np.isfinite(grad))


class MaxPoolVariantsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_jit_and_eager_agree_with_a_numpy_reference(self):
    x = RNG.normal(size=(2, 6, 4, 3)).astype(np.float32)
    expected = x.reshape(2, 3, 2, 2, 2, 3).max(axis=(2, 4))
    out = self.variant(lambda v: pool.max_pool(v, (2, 2), (2, 2), "SAME"))(x)
    chex.assert_shape(out, (2, 3, 2, 3))
    np.testing.assert_array_equal(out, expected)
