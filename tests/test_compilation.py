"""jvision/compilation.py: ``jit`` compiles CPU convolutions with XLA's own kernel (YNNPACK kept to matrix
products), merges the caller's compiler options, and computes what ``jax.jit`` computes."""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jvision import compilation

RNG = np.random.default_rng(0)


def _conv(x, w):
  return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _in_ynnpack(jitted, *args) -> bool:
  return "__ynn_fusion" in jitted.lower(*args).compile().as_text()


def test_cpu_convolutions_leave_ynnpack_and_results_agree():
  # Large enough for XLA's default to hand the convolution to YNNPACK, as it does a CNN's.
  x = jnp.asarray(RNG.normal(size=(8, 16, 16, 32)), jnp.float32)
  w = jnp.asarray(RNG.normal(size=(3, 3, 32, 32)), jnp.float32)
  assert _in_ynnpack(jax.jit(_conv), x, w)
  ours = compilation.jit(_conv)
  assert not _in_ynnpack(ours, x, w)
  np.testing.assert_allclose(ours(x, w), jax.jit(_conv)(x, w), rtol=1e-4, atol=1e-3)


def test_matrix_products_stay_in_ynnpack():
  a = jnp.asarray(RNG.normal(size=(256, 256)), jnp.bfloat16)
  matmul = lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32)
  assert _in_ynnpack(compilation.jit(matmul), a, a)


def test_caller_options_are_merged():
  x = jnp.asarray(RNG.normal(size=(8, 16, 16, 32)), jnp.float32)
  w = jnp.asarray(RNG.normal(size=(3, 3, 32, 32)), jnp.float32)
  jitted = compilation.jit(_conv, compiler_options={"xla_backend_optimization_level": 0})
  assert not _in_ynnpack(jitted, x, w)
  np.testing.assert_allclose(jitted(x, w), jax.jit(_conv)(x, w), rtol=1e-4, atol=1e-3)


def test_the_caller_can_put_convolutions_back_in_ynnpack():
  x, w = jnp.ones((8, 16, 16, 32)), jnp.ones((3, 3, 32, 32))
  options = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"}
  assert _in_ynnpack(compilation.jit(_conv, compiler_options=options), x, w)


def test_transformations_and_enclosing_jits_trace_it_as_plain_jit():
  # JAX refuses compiler options on a nested jit: under grad, vmap, make_jaxpr or another jit the function
  # is traced as plain jax.jit (the X-ray explainer differentiates through jitted classifiers).
  x = jnp.asarray(RNG.normal(size=(8, 16, 16, 32)), jnp.float32)
  w = jnp.asarray(RNG.normal(size=(3, 3, 32, 32)), jnp.float32)
  ours = compilation.jit(_conv)
  loss = lambda x: jnp.sum(ours(x, w) ** 2)
  reference = lambda x: jnp.sum(_conv(x, w) ** 2)
  np.testing.assert_allclose(jax.grad(loss)(x), jax.grad(reference)(x), rtol=1e-3, atol=1e-2)
  np.testing.assert_allclose(jax.vmap(ours, (0, None))(x[:, None], w)[:, 0], _conv(x, w), rtol=1e-4, atol=1e-3)
  assert jax.make_jaxpr(ours)(x, w).out_avals[0].shape == (8, 16, 16, 32)
  outer = compilation.jit(lambda x: ours(x, w) + 1.0)
  assert not _in_ynnpack(outer, x)
  np.testing.assert_allclose(outer(x), _conv(x, w) + 1.0, rtol=1e-4, atol=1e-3)


def test_attributes_are_those_of_the_top_level_program():
  x = jnp.ones((2, 4, 4, 3))
  w = jnp.ones((3, 3, 3, 2))
  def fresh(x, w):  # JAX's compilation cache is per function: one no other test compiles.
    return _conv(x, w)

  ours = compilation.jit(fresh)
  ours(x, w)
  ours(jnp.zeros((2, 4, 4, 3)), w)
  assert ours._cache_size() == 1  # One compilation for one signature.
  assert ours.eval_shape(x, w).shape == (2, 4, 4, 2)
  assert ours.__name__ == "fresh"
