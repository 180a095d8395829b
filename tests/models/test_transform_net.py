"""Tests of jvision/models/transform_net.py: shapes, range, parameter count by hand, instance-norm invariance."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models import transform_net


@pytest.fixture(scope="module")
def net_and_params():
  net = transform_net.TransformNet(width=4, num_residual=2)
  params = net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))["params"]
  return net, params


def test_shapes_range_and_parameter_count(net_and_params):
  net, params = net_and_params
  images = jax.random.uniform(jax.random.key(1), (2, 24, 20, 3))
  out = jax.jit(net.apply)({"params": params}, images)
  chex.assert_shape(out, (2, 24, 20, 3))
  chex.assert_type(out, jnp.float32)
  assert float(out.min()) >= 0 and float(out.max()) <= 1
  w, r = 4, 2  # conv kernels (no bias before instance norm) + instance norm scale and bias per channel
  expected = (81 * 3 * w + 2 * w) + (9 * w * 2 * w + 4 * w) + (9 * 2 * w * 4 * w + 8 * w)
  expected += r * 2 * (9 * 4 * w * 4 * w + 8 * w)
  expected += (9 * 4 * w * 2 * w + 4 * w) + (9 * 2 * w * w + 2 * w) + (81 * w * 3 + 3)
  assert sum(x.size for x in jax.tree.leaves(params)) == expected


def test_output_ignores_input_brightness_and_contrast(net_and_params):
  # The first conv has no bias and is followed by instance norm, so a * x + b (a > 0) gives the same output.
  net, params = net_and_params
  images = jax.random.uniform(jax.random.key(2), (1, 16, 16, 3))
  a = net.apply({"params": params}, images)
  b = net.apply({"params": params}, 0.5 * images + 0.2)
  chex.assert_trees_all_close(a, b, atol=2e-3)
  c = net.apply({"params": params}, images[:, ::-1])
  assert float(jnp.abs(a - c).max()) > 1e-3  # ... but it does depend on the content


def test_bad_sizes_are_refused(net_and_params):
  net, params = net_and_params
  with pytest.raises(ValueError, match="multiples of 4"):
    net.apply({"params": params}, jnp.zeros((1, 18, 16, 3)))
  with pytest.raises(ValueError, match=r"RGB images \[B, H, W, 3\]"):
    net.apply({"params": params}, jnp.zeros((16, 16, 3)))
