"""Tests for jvision/models/yolo.py: shapes, decode inverts the YOLO target encoding, jit predict, and
overfitting a tiny batch through the detection task's loss."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision.models import yolo
from jvision.ops import anchors
from jvision.tasks.detection import DetectionTask

TINY = dict(num_classes=3, image_size=32, num_boxes=2, base_widths=(8, 16), head_width=16, head_convs=1,
            max_detections=10)


def _init(model):
  return jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, model.image_size, model.image_size, 3)))


def test_output_shape_and_activations():
  model = yolo.YOLO(**TINY)
  variables = _init(model)
  out = jax.jit(model.apply)(variables, jax.random.normal(jax.random.PRNGKey(1), (2, 32, 32, 3)))
  chex.assert_shape(out, (2, 8, 8, 2 * 5 + 3))  # Grid 32 / 4.
  assert np.all((np.asarray(out[..., :10]) > 0) & (np.asarray(out[..., :10]) < 1))
  chex.assert_trees_all_close(out[..., 10:].sum(-1), jnp.ones((2, 8, 8)), atol=1e-5)
  with pytest.raises(ValueError, match="YOLO expects images"):
    model.apply(variables, jnp.zeros((1, 40, 40, 3)))


def test_decode_inverts_the_target_encoding():
  gt_boxes = jnp.array([[2.0, 3.0, 14.0, 13.0], [18.0, 16.0, 30.0, 31.0]])
  cells = anchors.yolo_cell_index(gt_boxes, 4, 32)
  encoded = anchors.yolo_encode_boxes(gt_boxes, cells, 4, 32)
  predictions = np.zeros((4, 4, 2 * 5 + 3), np.float32)
  for (row, col), box, label in zip(np.asarray(cells), np.asarray(encoded), (2, 0)):
    predictions[row, col, 5:9] = box  # The second predictor of the cell.
    predictions[row, col, 9] = 1.0
    predictions[row, col, 10 + label] = 1.0
  out = jax.jit(lambda p: yolo.decode_detections(p, 2, 32, max_detections=10))(jnp.asarray(predictions))
  assert int(out["valid"].sum()) == 2
  chex.assert_trees_all_close(out["boxes"][:2], gt_boxes, atol=1e-4)
  chex.assert_trees_all_equal(out["classes"], jnp.array([2, 0] + [-1] * 8, jnp.int32))
  chex.assert_trees_all_close(out["scores"][:2], jnp.ones(2))


def test_predict_is_jit_compiled_with_static_shapes():
  model = yolo.YOLO(**TINY)
  variables = _init(model)
  predict = jax.jit(lambda v, x: model.apply(v, x, method="predict"))
  images = jax.random.normal(jax.random.PRNGKey(1), (3, 32, 32, 3))
  out = predict(variables, images)
  chex.assert_shape((out["boxes"], out["scores"], out["classes"], out["valid"]), [(3, 10, 4), (3, 10), (3, 10),
                                                                                  (3, 10)])
  predict(variables, images + 1)
  assert predict._cache_size() == 1
  assert np.all(np.asarray(out["classes"])[~np.asarray(out["valid"])] == -1)


def test_loss_is_finite_and_decreases_when_overfitting_a_tiny_batch():
  model = yolo.YOLO(**TINY)
  task = DetectionTask("yolo", "shapes/multi", 3, 32, 2)
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
