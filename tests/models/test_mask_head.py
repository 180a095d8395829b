"""Tests for jvision/models/mask_head.py: shapes, parameter layout, jit, dtype, and the upsampling geometry."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models.mask_head import MaskHead


def test_shapes_parameters_and_jit():
  head = MaskHead(num_classes=5, width=16)
  features = jax.random.normal(jax.random.key(0), (3, 14, 14, 8))
  variables = head.init(jax.random.key(1), features)
  params = variables["params"]
  assert sorted(params) == ["conv5_mask", "mask_fcn1", "mask_fcn2", "mask_fcn3", "mask_fcn4", "mask_fcn_logits"]
  chex.assert_shape(params["mask_fcn1"]["kernel"], (3, 3, 8, 16))
  chex.assert_shape(params["conv5_mask"]["kernel"], (2, 2, 16, 16))
  chex.assert_shape(params["mask_fcn_logits"]["kernel"], (1, 1, 16, 5))
  expected_count = 9 * 8 * 16 + 3 * 9 * 16 * 16 + 4 * 16 * 16 + 16 * 5 + 5 * 16 + 5
  assert sum(p.size for p in jax.tree_util.tree_leaves(params)) == expected_count
  logits = head.apply(variables, features)
  chex.assert_shape(logits, (3, 28, 28, 5))
  assert logits.dtype == jnp.float32
  chex.assert_trees_all_close(jax.jit(head.apply)(variables, features), logits, atol=1e-5)
  # RoIs are independent: the mask of one RoI does not depend on the others.
  chex.assert_trees_all_close(head.apply(variables, features[1:2]), logits[1:2], atol=1e-5)


def test_each_output_cell_sees_only_its_2x2_parent():
  # With no convolutions before it, the stride-2 transposed convolution maps input cell (i, j) to output cells
  # (2i..2i+1, 2j..2j+1): a feature that is nonzero only at input (3, 5) changes only those 4 outputs.
  head = MaskHead(num_classes=2, width=4, num_convs=0)
  zero = jnp.zeros((1, 7, 7, 3))
  variables = head.init(jax.random.key(0), zero)
  variables = jax.tree_util.tree_map(lambda p: jnp.abs(p) + 0.1, variables)  # positive: ReLU keeps signal
  spike = zero.at[0, 3, 5, :].set(1.0)
  changed = np.any(np.asarray(head.apply(variables, spike) != head.apply(variables, zero)), axis=(0, 3))
  expected = np.zeros((14, 14), bool)
  expected[6:8, 10:12] = True
  np.testing.assert_array_equal(changed, expected)


def test_bfloat16_compute_and_bad_input():
  head = MaskHead(num_classes=3, width=8, dtype=jnp.bfloat16)
  features = jnp.ones((2, 14, 14, 4))
  variables = head.init(jax.random.key(0), features)
  assert jax.tree_util.tree_leaves(variables)[0].dtype == jnp.float32
  assert head.apply(variables, features).dtype == jnp.float32
  with pytest.raises(ValueError, match="roi_features must be \\[R, h, w, C\\]"):
    head.apply(variables, jnp.ones((14, 14, 4)))
