"""Tests for jvision/models/weights/assign.py."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models.weights import assign

TEMPLATE = {"params": {"fc": {"kernel": jax.ShapeDtypeStruct((3, 2), jnp.float32),
                              "bias": jax.ShapeDtypeStruct((2,), jnp.bfloat16)}}}


def test_values_land_at_their_paths_with_the_template_dtype():
  flat = {"params/fc/kernel": np.arange(6.0).reshape(3, 2), "params/fc/bias": np.array([1.5, -2.0])}
  got = assign.assign_variables(TEMPLATE, flat, "t.npz")
  chex.assert_trees_all_close(got["params"]["fc"]["kernel"], np.arange(6.0).reshape(3, 2))
  assert got["params"]["fc"]["bias"].dtype == jnp.bfloat16
  chex.assert_trees_all_close(got["params"]["fc"]["bias"].astype(jnp.float32), jnp.array([1.5, -2.0]))


def test_unknown_missing_and_misshapen_parameters_are_named():
  good = {"params/fc/kernel": np.zeros((3, 2)), "params/fc/bias": np.zeros(2)}
  with pytest.raises(KeyError, match=r"t.npz: unknown parameter names.*params/fc/weight"):
    assign.assign_variables(TEMPLATE, {**good, "params/fc/weight": np.zeros(2)}, "t.npz")
  with pytest.raises(KeyError, match=r"missing from the checkpoint: params/fc/bias"):
    assign.assign_variables(TEMPLATE, {"params/fc/kernel": np.zeros((3, 2))}, "t.npz")
  with pytest.raises(ValueError, match=r"shape mismatch for params/fc/kernel: checkpoint has \(2, 3\)"):
    assign.assign_variables(TEMPLATE, {**good, "params/fc/kernel": np.zeros((2, 3))}, "t.npz")


def test_allowed_missing_leaves_keep_initialized_values():
  template = {"params": {"fc": {"kernel": jnp.ones((3, 2)), "bias": jnp.full((2,), 7.0)}}}
  got = assign.assign_variables(template, {"params/fc/kernel": np.zeros((3, 2))}, "t", ["params/fc/bias"])
  chex.assert_trees_all_close(got["params"]["fc"]["bias"], jnp.full((2,), 7.0))
  chex.assert_trees_all_close(got["params"]["fc"]["kernel"], jnp.zeros((3, 2)))
