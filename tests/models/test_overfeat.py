"""Tests for jvision/models/overfeat.py: dense evaluation shapes, window boxes mapped to image pixels, the
greedy merge by hand, jit multi-scale predict, and overfitting a tiny batch through the localization task."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision.models import overfeat
from jvision.tasks.localization import LocalizationTask

TINY = dict(num_classes=3, window_size=32, widths=(8, 8, 16), dense_width=16, scales=(32, 40, 48), dropout_rate=0.0)


def _init(model):
  return jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, model.window_size, model.window_size, 3)))


def test_one_output_per_window_at_stride_of_the_network():
  model = overfeat.OverFeat(**TINY)
  variables = _init(model)
  apply = jax.jit(model.apply)
  small = apply(variables, jnp.zeros((2, 32, 32, 3)))
  chex.assert_shape((small["class_logits"], small["boxes"]), [(2, 1, 1, 3), (2, 1, 1, 3, 4)])
  large = apply(variables, jnp.zeros((2, 48, 64, 3)))  # (48 - 32) / 8 + 1 by (64 - 32) / 8 + 1 windows.
  chex.assert_shape((large["class_logits"], large["boxes"]), [(2, 3, 5, 3), (2, 3, 5, 3, 4)])
  with pytest.raises(ValueError, match="multiples of the stride"):
    model.apply(variables, jnp.zeros((1, 36, 36, 3)))


def test_window_boxes_are_offset_by_the_window_position_and_rescaled():
  model = overfeat.OverFeat(**TINY)
  variables = _init(model)
  images = jax.random.normal(jax.random.PRNGKey(1), (1, 40, 40, 3))
  probabilities, boxes = jax.jit(lambda v, x: model.apply(v, x, 40, method="window_predictions"))(variables, images)
  raw = model.apply(variables, images)
  chex.assert_shape((probabilities, boxes), [(1, 4, 3), (1, 4, 3, 4)])
  # Window (row 1, col 0) starts at (x, y) = (0, 8): fractions of a 32 px window, shifted.
  expected = np.asarray(raw["boxes"][0, 1, 0]) * 32 + np.array([0, 8, 0, 8])
  chex.assert_trees_all_close(boxes[0, 2], expected, rtol=1e-5, atol=1e-4)
  chex.assert_trees_all_close(probabilities[0, 2], jax.nn.softmax(raw["class_logits"][0, 1, 0]), atol=1e-6)


def test_greedy_merge_by_hand():
  boxes = jnp.array([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [50, 50, 60, 60], [0, 0, 10, 10]])
  scores = jnp.array([0.6, 0.2, 0.9, 0.5])
  classes = jnp.array([0, 0, 0, 1])
  merged, merged_scores, active = jax.jit(lambda b, s, c: overfeat.greedy_merge(b, s, c, 1.0))(boxes, scores,
                                                                                               classes)
  # Boxes 0 and 1 (IoU 9/11, centres 1 px apart: score 2/11 + 0.1) merge into their 0.6 : 0.2 average; box 2 is
  # too far, box 3 is another class (an identical box of class 0 would have merged first).
  chex.assert_trees_all_equal(active, jnp.array([True, False, True, True]))
  chex.assert_trees_all_close(merged[0], jnp.array([0.25, 0.0, 10.25, 10.0]), atol=1e-5)
  chex.assert_trees_all_close(merged_scores, jnp.array([0.8, 0.0, 0.9, 0.5]), atol=1e-6)
  chex.assert_trees_all_close(merged[2:], boxes[2:])
  # A threshold below every match score merges nothing.
  _, unchanged, active = overfeat.greedy_merge(boxes, scores, classes, 0.1)
  assert bool(active.all())
  chex.assert_trees_all_close(unchanged, scores)


def test_predict_is_jit_compiled_with_static_shapes():
  model = overfeat.OverFeat(**TINY)
  variables = _init(model)
  predict = jax.jit(lambda v, x: model.apply(v, x, method="predict"))
  images = jax.random.normal(jax.random.PRNGKey(2), (2, 48, 48, 3))
  out = predict(variables, images)
  chex.assert_shape((out["boxes"], out["scores"], out["classes"], out["valid"]), [(2, 1, 4), (2, 1), (2, 1), (2, 1)])
  predict(variables, images - 1)
  assert predict._cache_size() == 1
  assert np.all((np.asarray(out["scores"]) > 0) & (np.asarray(out["scores"]) <= 1))
  assert np.all((np.asarray(out["boxes"]) >= 0) & (np.asarray(out["boxes"]) <= 48))


def test_loss_is_finite_and_decreases_when_overfitting_a_tiny_batch():
  model = overfeat.OverFeat(**TINY)
  task = LocalizationTask("shapes/single", 3, train_size=32, eval_size=48)
  variables = _init(model)
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.normal(size=(4, 32, 32, 3)), jnp.float32),
           "box": jnp.array([[2.0, 3.0, 14.0, 13.0], [18.0, 16.0, 30.0, 31.0], [5, 5, 25, 25], [0, 0, 0, 0]]),
           "label": jnp.array([2, 0, 1, 0]), "has_object": jnp.array([True, True, True, False])}
  tx = optax.adam(3e-3)
  state = (variables["params"], {"batch_stats": variables["batch_stats"]}, tx.init(variables["params"]))

  @jax.jit
  def step(state):
    params, model_state, opt_state = state
    grad_fn = jax.value_and_grad(lambda p: task.loss(model.apply, {"params": p, **model_state}, batch,
                                                     jax.random.PRNGKey(0)), has_aux=True)
    (loss, (_, new_model_state)), grads = grad_fn(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), new_model_state, opt_state), loss

  losses = []
  for _ in range(25):
    state, loss = step(state)
    losses.append(float(loss))
  assert np.all(np.isfinite(losses))
  assert losses[-1] < 0.5 * losses[0]


def test_background_class_is_trained_and_left_out_of_the_window_scores():
  model = overfeat.OverFeat(**TINY, background=True)
  variables = _init(model)
  images = jax.random.normal(jax.random.PRNGKey(3), (1, 40, 40, 3))
  raw = model.apply(variables, images)
  chex.assert_shape((raw["class_logits"], raw["boxes"]), [(1, 2, 2, 4), (1, 2, 2, 3, 4)])
  probabilities, _ = model.apply(variables, images, 40, method="window_predictions")
  # Softmax over the 3 classes and background, then the 3 object-class columns: they sum to below 1.
  chex.assert_trees_all_close(probabilities[0, 3], jax.nn.softmax(raw["class_logits"][0, 1, 1])[:3], atol=1e-6)
  task = LocalizationTask("shapes/single", 3, train_size=32, eval_size=48, background_fraction=0.5)
  batch = {"image": images[:, :32, :32], "box": jnp.array([[0.0, 0, 0, 0]]), "label": jnp.array([3]),
           "has_object": jnp.array([False])}
  loss, (metrics, _) = task.loss(model.apply, variables, batch, jax.random.PRNGKey(0))
  logits = model.apply(variables, batch["image"], train=True, mutable=["batch_stats"])[0]["class_logits"][0, 0, 0]
  assert float(loss) == pytest.approx(float(-jax.nn.log_softmax(logits)[3]), rel=1e-5)  # No box term.
  assert float(metrics["box_mse"]) == 0.0
  # A task with background needs a model with it, and says so.
  with pytest.raises(ValueError, match="background=True"):
    task.loss(overfeat.OverFeat(**TINY).apply, _init(overfeat.OverFeat(**TINY)), batch, jax.random.PRNGKey(0))


def test_windows_per_scale_keeps_the_best_windows_of_each_scale():
  model = overfeat.OverFeat(**TINY)
  variables = _init(model)
  images = jax.random.normal(jax.random.PRNGKey(3), (2, 48, 48, 3))
  predict = lambda m: jax.jit(lambda v, x: m.apply(v, x, method="predict"))(variables, images)
  # Keeping every window (1 + 4 + 9 at scales 32, 40, 48) is the paper's merge.
  chex.assert_trees_all_close(predict(overfeat.OverFeat(**TINY, windows_per_scale=14)), predict(model))
  # One window per scale and no merging: the prediction is the single best window over all scales.
  out = predict(overfeat.OverFeat(**TINY, windows_per_scale=1, merge_threshold=0.0))
  per_scale = [model.apply(variables, images, s, method="window_predictions") for s in TINY["scales"]]
  probabilities = np.concatenate([np.asarray(p) for p, _ in per_scale], axis=1)  # [B, 14, C]
  boxes = np.concatenate([np.asarray(b) for _, b in per_scale], axis=1)  # [B, 14, C, 4]
  for b in range(2):
    window, label = np.unravel_index(np.argmax(probabilities[b]), probabilities[b].shape)
    assert int(out["classes"][b, 0]) == label
    np.testing.assert_allclose(out["scores"][b, 0], probabilities[b, window, label] / 14, rtol=1e-5)
    np.testing.assert_allclose(out["boxes"][b, 0], np.clip(boxes[b, window, label], 0, 48), rtol=1e-5, atol=1e-4)
  with pytest.raises(ValueError, match="windows_per_scale must be >= 0"):
    predict(overfeat.OverFeat(**TINY, windows_per_scale=-1))
