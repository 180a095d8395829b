"""Schedules against their formulas; every optimizer builds and minimizes a quadratic."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision import optim


def test_cosine_with_warmup_follows_the_formula():
  schedule = optim.make_schedule({"name": "cosine", "warmup_steps": 10}, 0.1, 110)
  for step in (0, 5, 10, 60, 109, 110):
    if step < 10:
      expected = 0.1 * step / 10
    else:
      expected = 0.1 * 0.5 * (1 + math.cos(math.pi * (step - 10) / 100))
    np.testing.assert_allclose(schedule(step), expected, rtol=1e-5, atol=1e-8)


def test_cosine_final_fraction_follows_the_formula():
  schedule = optim.make_schedule({"name": "cosine", "warmup_steps": 10, "final_fraction": 0.5}, 0.1, 110)
  for step in (10, 35, 60, 109, 110):
    cosine = 0.5 * (1 + math.cos(math.pi * (step - 10) / 100))
    np.testing.assert_allclose(schedule(step), 0.1 * (0.5 + 0.5 * cosine), rtol=1e-5, atol=1e-8)


def test_step_schedule_decays_at_the_given_steps():
  schedule = optim.make_schedule({"name": "step", "decay_steps": (30, 60), "decay_factor": 0.1}, 1.0, 100)
  np.testing.assert_allclose([schedule(s) for s in (0, 29, 30, 59, 60, 99)],
                             [1, 1, 0.1, 0.1, 0.01, 0.01], rtol=1e-6)


def test_constant_schedule():
  schedule = optim.make_schedule({"name": "constant"}, 0.3, 10)
  assert float(schedule(0)) == float(schedule(9)) == pytest.approx(0.3)


def test_sgd_step_is_lr_times_gradient():
  tx = optim.make_optimizer({"name": "sgd"}, optax.constant_schedule(0.5))
  params = {"w": jnp.array([1.0, -2.0])}
  updates, _ = tx.update({"w": jnp.array([0.2, 0.4])}, tx.init(params), params)
  np.testing.assert_allclose(updates["w"], [-0.1, -0.2])


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_every_optimizer_minimizes_a_quadratic(name):
  tx = optim.make_optimizer({"name": name, "weight_decay": 1e-4, "grad_clip_norm": 10.0},
                            optax.constant_schedule(0.05))
  params = jnp.array([3.0, -2.0])
  state = tx.init(params)
  loss = lambda p: jnp.sum(p ** 2)
  for _ in range(200):
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    params = optax.apply_updates(params, updates)
  assert loss(params) < 0.05 * loss(jnp.array([3.0, -2.0]))


def test_unknown_names_and_bad_warmup_are_clear_errors():
  with pytest.raises(ValueError, match="unknown optimizer 'adagrad'; known: sgd"):
    optim.make_optimizer({"name": "adagrad"}, optax.constant_schedule(0.1))
  with pytest.raises(ValueError, match="unknown schedule 'linear'"):
    optim.make_schedule({"name": "linear"}, 0.1, 10)
  with pytest.raises(ValueError, match=r"warmup_steps must be in \[0, total_steps=10\)"):
    optim.make_schedule({"name": "cosine", "warmup_steps": 10}, 0.1, 10)
  for bad in (-0.1, 1.5):
    with pytest.raises(ValueError, match=r"final_fraction must be in \[0, 1\], got"):
      optim.make_schedule({"name": "cosine", "final_fraction": bad}, 0.1, 10)
