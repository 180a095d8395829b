"""Tests for jvision/models/fast_rcnn.py: output shapes with and without ground truth, RoI max pooling of the
given proposals, a jit-compiled predict, input errors, and a loss that decreases when a tiny batch with
jittered-ground-truth proposals is overfitted through the two-stage task."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision import models
from jvision.models.fast_rcnn import FastRCNN
from jvision.ops.proposals import jittered_gt_proposals
from jvision.tasks.two_stage import TwoStageDetectionTask

TINY = dict(num_classes=3, image_size=64, backbone_widths=(8, 16, 16), head_width=32, roi_samples=16,
            max_detections=10)
GT_BOXES = np.array([[[4, 4, 28, 28], [30, 20, 60, 50], [0, 0, 0, 0]],
                     [[10, 30, 40, 60], [0, 0, 0, 0], [0, 0, 0, 0]]], np.float32)
GT_LABELS = np.array([[0, 2, -1], [1, -1, -1]])
GT_VALID = np.array([[True, True, False], [True, False, False]])


def _proposals(num=24, seed=0):
  rng = np.random.default_rng(seed)
  out = [jittered_gt_proposals(b, v, num, 64, rng) for b, v in zip(GT_BOXES, GT_VALID)]
  return jnp.asarray(np.stack([o["proposals"] for o in out])), jnp.asarray(np.stack([o["proposal_valid"]
                                                                                     for o in out]))


def _init(model):
  return jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, model.image_size, model.image_size, 3)))


def test_registered_and_output_shapes():
  model = models.get_model("fast_rcnn", **TINY)
  assert isinstance(model, FastRCNN)
  variables = _init(model)
  proposals, valid = _proposals()
  images = jnp.ones((2, 64, 64, 3))
  outputs, _ = jax.jit(lambda v, *a: model.apply(v, *a, train=True, mutable=["batch_stats"],
                                                 rngs={"sampling": jax.random.PRNGKey(1)}))(
      variables, images, proposals, valid, jnp.asarray(GT_BOXES), jnp.asarray(GT_LABELS), jnp.asarray(GT_VALID))
  chex.assert_shape([outputs["rois"], outputs["roi_target_deltas"]], [(2, 16, 4)] * 2)
  chex.assert_shape([outputs["roi_labels"], outputs["roi_matched_gt"], outputs["roi_valid"]], [(2, 16)] * 3)
  chex.assert_shape(outputs["class_logits"], (2, 16, 4))
  chex.assert_shape(outputs["box_deltas"], (2, 16, 3, 4))
  # 25% of 16 RoIs at most are foreground.
  assert np.all((np.asarray(outputs["roi_labels"]) > 0).sum(axis=1) <= 4)
  eval_outputs = jax.jit(model.apply)(variables, images, proposals, valid)
  np.testing.assert_array_equal(np.asarray(eval_outputs["rois"]), np.asarray(proposals))
  chex.assert_shape(eval_outputs["class_logits"], (2, 24, 4))


def test_predict_is_jit_compiled_and_masks_invalid_proposals():
  model = FastRCNN(**TINY)
  variables = _init(model)
  proposals, valid = _proposals()
  predict = jax.jit(lambda v, x, p, m: model.apply(v, x, p, m, method="predict"))
  out = predict(variables, jnp.ones((2, 64, 64, 3)), proposals, valid)
  chex.assert_shape([out["boxes"], out["scores"], out["classes"], out["valid"]],
                    [(2, 10, 4), (2, 10), (2, 10), (2, 10)])
  none_valid = predict(variables, jnp.ones((2, 64, 64, 3)), proposals, jnp.zeros_like(valid))
  assert not np.asarray(none_valid["valid"]).any()


def test_input_errors():
  model = FastRCNN(**TINY)
  variables = _init(model)
  with pytest.raises(ValueError, match="proposals must be"):
    model.apply(variables, jnp.ones((2, 64, 64, 3)), jnp.zeros((1, 5, 4)))
  with pytest.raises(ValueError, match="proposal_valid"):
    model.apply(variables, jnp.ones((2, 64, 64, 3)), jnp.zeros((2, 5, 4)), jnp.ones((2, 4), bool))
  with pytest.raises(ValueError, match="feature_name"):
    _init(FastRCNN(**{**TINY, "feature_name": "c7"}))


def test_loss_decreases_on_a_tiny_batch():
  task = TwoStageDetectionTask("fast_rcnn", "shapes/multi", num_classes=3, image_size=64, max_objects=3,
                               proposals="jittered_gt", num_proposals=24)
  model = FastRCNN(**TINY)
  variables = _init(model)
  rng = np.random.default_rng(0)
  images = np.zeros((2, 64, 64, 3), np.float32)
  for image, boxes, valid in zip(images, GT_BOXES.astype(int), GT_VALID):
    for k, (x1, y1, x2, y2) in enumerate(boxes[valid]):
      image[y1:y2, x1:x2] = rng.normal(size=3) + k
  proposals, proposal_valid = _proposals()
  batch = {"image": jnp.asarray(images), "boxes": jnp.asarray(GT_BOXES), "labels": jnp.asarray(GT_LABELS),
           "valid": jnp.asarray(GT_VALID), "is_crowd": jnp.zeros((2, 3), bool), "proposals": proposals,
           "proposal_valid": proposal_valid}
  tx = optax.adam(3e-3)
  params, model_state = variables["params"], {"batch_stats": variables["batch_stats"]}
  opt_state = tx.init(params)

  @jax.jit
  def step(params, model_state, opt_state, rng):
    def loss_fn(p):
      return task.loss(model.apply, {"params": p, **model_state}, batch, rng)
    (loss, (metrics, new_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_state, opt_state, metrics

  history = []
  for i in range(40):
    params, model_state, opt_state, metrics = step(params, model_state, opt_state, jax.random.PRNGKey(i))
    history.append({k: float(v) for k, v in metrics.items()})
  assert history[-1]["loss"] == pytest.approx(history[-1]["classification_loss"] + history[-1]["box_loss"],
                                              rel=1e-5)
  first, last = np.mean([h["loss"] for h in history[:3]]), np.mean([h["loss"] for h in history[-3:]])
  assert last < 0.5 * first, (first, last)
