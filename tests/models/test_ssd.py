"""Tests for jvision/models/ssd.py: shapes, default boxes, decode inverts the target encoding, jit predict,
and overfitting a tiny batch through the detection task's loss."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision.losses import detection as detection_losses
from jvision.models import ssd
from jvision.tasks.detection import DetectionTask

TINY = dict(num_classes=3, image_size=32, base_widths=(8, 16), extra_width=8, aspect_ratios=(2.0,),
            max_detections=10)


def _init(model):
  return jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, model.image_size, model.image_size, 3)))


def test_feature_map_sizes_and_box_sizes_by_hand():
  assert ssd.feature_map_sizes(96, 8) == (12, 6, 3, 2, 1)
  assert ssd.feature_map_sizes(32, 4) == (8, 4, 2, 1)
  with pytest.raises(ValueError, match="multiple"):
    ssd.feature_map_sizes(90, 8)
  min_sizes, max_sizes = ssd.default_box_sizes(2, 100, 0.2, 0.8)
  chex.assert_trees_all_close((min_sizes, max_sizes), ((20.0, 50.0), (50.0, 80.0)))


def test_output_shapes_and_default_box_count():
  model = ssd.SSD(**TINY)
  variables = _init(model)
  outputs = jax.jit(model.apply)(variables, jnp.zeros((2, 32, 32, 3)))
  num_boxes = 4 * (8 * 8 + 4 * 4 + 2 * 2 + 1)  # 4 boxes per cell (1, 1', 2, 1/2) on maps 8, 4, 2, 1.
  chex.assert_shape(outputs["class_logits"], (2, num_boxes, 4))
  chex.assert_shape(outputs["box_deltas"], (2, num_boxes, 4))
  priors = model.default_boxes()
  chex.assert_shape(priors, (num_boxes, 4))
  # The first cell of the first map: centre (2, 2) px of 32, a 3.2 px square (min scale 0.1) first.
  chex.assert_trees_all_close(priors[0], jnp.array([0.4, 0.4, 3.6, 3.6]) / 32, atol=1e-6)
  with pytest.raises(ValueError, match="SSD expects images"):
    model.apply(variables, jnp.zeros((1, 48, 48, 3)))


def test_decode_inverts_the_target_encoding():
  model = ssd.SSD(**TINY)
  priors = model.default_boxes()
  gt_boxes = jnp.array([[2.0, 3.0, 14.0, 13.0], [18.0, 16.0, 30.0, 31.0], [0, 0, 0, 0]])
  gt_labels, gt_valid = jnp.array([2, 0, -1]), jnp.array([True, True, False])
  labels, deltas = detection_losses.ssd_targets(gt_boxes / 32, gt_labels, gt_valid, priors)
  logits = 20.0 * jax.nn.one_hot(labels, 4)  # The target class, confidently.
  out = jax.jit(lambda l, d: ssd.decode_detections(l, d, priors, 32, max_detections=10))(logits, deltas)
  chex.assert_shape(out["boxes"], (10, 4))
  assert int(out["valid"].sum()) == 2  # Every positive decodes to its ground truth; NMS keeps one of each.
  order = np.argsort(np.asarray(out["classes"])[:2])
  chex.assert_trees_all_close(np.asarray(out["boxes"])[:2][order], gt_boxes[jnp.array([1, 0])], atol=1e-3)
  chex.assert_trees_all_equal(np.asarray(out["classes"])[:2][order], np.array([0, 2], np.int32))
  chex.assert_trees_all_equal(np.asarray(out["classes"])[2:], np.full(8, -1, np.int32))


def test_predict_is_jit_compiled_with_static_shapes():
  model = ssd.SSD(**TINY)
  variables = _init(model)
  predict = jax.jit(lambda v, x: model.apply(v, x, method="predict"))
  images = jax.random.normal(jax.random.PRNGKey(1), (3, 32, 32, 3))
  out = predict(variables, images)
  chex.assert_shape((out["boxes"], out["scores"], out["classes"], out["valid"]), [(3, 10, 4), (3, 10), (3, 10),
                                                                                  (3, 10)])
  predict(variables, images * 2)  # New values, same shapes: no retrace.
  assert predict._cache_size() == 1
  assert np.all(np.asarray(out["boxes"]) >= 0) and np.all(np.asarray(out["boxes"]) <= 32)
  valid = np.asarray(out["valid"])
  assert np.all(np.asarray(out["classes"])[~valid] == -1)


def test_loss_is_finite_and_decreases_when_overfitting_a_tiny_batch():
  model = ssd.SSD(**TINY)
  task = DetectionTask("ssd", "shapes/multi", 3, 32, 2)
  variables = _init(model)
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.normal(size=(2, 32, 32, 3)), jnp.float32),
           "boxes": jnp.array([[[2.0, 3.0, 14.0, 13.0], [18.0, 16.0, 30.0, 31.0]], [[5, 5, 25, 25], [0, 0, 0, 0]]]),
           "labels": jnp.array([[2, 0], [1, -1]]), "valid": jnp.array([[True, True], [True, False]]),
           "is_crowd": jnp.zeros((2, 2), bool)}
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
