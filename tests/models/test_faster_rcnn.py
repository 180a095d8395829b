"""Tests for jvision/models/faster_rcnn.py (with rpn.py, fpn.py and detection_backbone.py): output shapes with
and without ground truth, a jit-compiled predict, the FPN and ResNet variants, configuration errors, and a loss
that decreases when a tiny batch is overfitted through the two-stage task, and the Mask R-CNN branch: static
shapes under jit in training and predict, foreground RoIs first."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision import models
from jvision.models.faster_rcnn import FasterRCNN
from jvision.models.fpn import FPN
from jvision.models.rpn import rpn_anchors
from jvision.tasks.two_stage import TwoStageDetectionTask

TINY = dict(num_classes=3, image_size=64, backbone_widths=(8, 16, 16), rpn_width=16, head_width=32,
            roi_samples=16, rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=32, rpn_pre_nms_top_n_test=50,
            rpn_post_nms_top_n_test=16, max_detections=10)
GT_BOXES = jnp.array([[[4, 4, 28, 28], [30, 20, 60, 50], [0, 0, 0, 0]],
                      [[10, 30, 40, 60], [0, 0, 0, 0], [0, 0, 0, 0]]], jnp.float32)
GT_LABELS = jnp.array([[0, 2, -1], [1, -1, -1]])
GT_VALID = jnp.array([[True, True, False], [True, False, False]])


def _init(model):
  return jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, model.image_size, model.image_size, 3)))


def test_registered_and_output_shapes():
  model = models.get_model("faster_rcnn", **TINY)
  assert isinstance(model, FasterRCNN)
  variables = _init(model)
  images = jnp.asarray(np.random.default_rng(0).normal(size=(2, 64, 64, 3)), jnp.float32)
  num_anchors = 8 * 8 * 9  # stride 8 on 64 px, 3 scales x 3 ratios
  train_apply = jax.jit(lambda v, x, b, l, m: model.apply(v, x, b, l, m, train=True, mutable=["batch_stats"],
                                                          rngs={"sampling": jax.random.PRNGKey(1)}))
  outputs, _ = train_apply(variables, images, GT_BOXES, GT_LABELS, GT_VALID)
  chex.assert_shape(outputs["rpn_objectness"], (2, num_anchors))
  chex.assert_shape(outputs["rpn_deltas"], (2, num_anchors, 4))
  chex.assert_shape(outputs["anchors"], (num_anchors, 4))
  chex.assert_shape(outputs["proposals"], (2, 32, 4))
  chex.assert_shape([outputs["rois"], outputs["roi_target_deltas"]], [(2, 16, 4)] * 2)
  chex.assert_shape([outputs["roi_valid"], outputs["roi_labels"], outputs["roi_matched_gt"]], [(2, 16)] * 3)
  chex.assert_shape(outputs["class_logits"], (2, 16, 4))
  chex.assert_shape(outputs["box_deltas"], (2, 16, 3, 4))
  # The ground truth is among the candidates, so every valid object can be a foreground RoI; the matched
  # indices (what a mask branch needs) point at valid ground truth of the right class.
  labels, matched = np.asarray(outputs["roi_labels"]), np.asarray(outputs["roi_matched_gt"])
  assert (labels > 0).any()
  for image in range(2):
    foreground = labels[image] > 0
    assert np.all(np.asarray(GT_VALID)[image][matched[image][foreground]])
    np.testing.assert_array_equal(np.asarray(GT_LABELS)[image][matched[image][foreground]] + 1,
                                  labels[image][foreground])
    assert np.all(matched[image][~foreground] == -1)
  eval_outputs = jax.jit(model.apply)(variables, images)
  chex.assert_shape(eval_outputs["rois"], (2, 16, 4))
  assert "roi_labels" not in eval_outputs


def test_predict_is_jit_compiled_with_static_shapes():
  model = FasterRCNN(**TINY)
  variables = _init(model)
  predict = jax.jit(lambda v, x: model.apply(v, x, method="predict"))
  out = predict(variables, jnp.zeros((3, 64, 64, 3)))
  chex.assert_shape([out["boxes"], out["scores"], out["classes"], out["valid"]],
                    [(3, 10, 4), (3, 10), (3, 10), (3, 10)])
  valid = np.asarray(out["valid"])
  assert np.all(np.asarray(out["classes"])[~valid] == -1)
  boxes = np.asarray(out["boxes"])[valid]
  assert np.all((boxes >= 0) & (boxes <= 64))


def test_mask_branch_shapes_are_static_under_jit():
  model = FasterRCNN(**TINY, mask_head=True, mask_head_width=8)  # F = int(16 * 0.25) = 4 mask RoIs per image.
  variables = _init(model)
  chex.assert_shape(variables["params"]["mask_branch"]["mask_fcn_logits"]["kernel"], (1, 1, 8, 3))
  images = jnp.asarray(np.random.default_rng(0).normal(size=(2, 64, 64, 3)), jnp.float32)
  train_apply = jax.jit(lambda v, x, b, l, m: model.apply(v, x, b, l, m, train=True, mutable=["batch_stats"],
                                                          rngs={"sampling": jax.random.PRNGKey(1)}))
  outputs, _ = train_apply(variables, images, GT_BOXES, GT_LABELS, GT_VALID)
  chex.assert_shape(outputs["mask_logits"], (2, 4, 28, 28, 3))
  chex.assert_shape(outputs["mask_rois"], (2, 4, 4))
  chex.assert_shape([outputs["mask_classes"], outputs["mask_matched_gt"], outputs["mask_valid"]], [(2, 4)] * 3)
  # The mask RoIs are the first sampled RoIs, and every foreground RoI is among them.
  labels = np.asarray(outputs["roi_labels"])
  assert (labels[:, :4] > 0).any() and not (labels[:, 4:] > 0).any()
  np.testing.assert_array_equal(outputs["mask_valid"], labels[:, :4] > 0)
  np.testing.assert_array_equal(outputs["mask_rois"], outputs["rois"][:, :4])
  valid = np.asarray(outputs["mask_valid"])
  np.testing.assert_array_equal(np.asarray(outputs["mask_classes"])[valid], labels[:, :4][valid] - 1)
  np.testing.assert_array_equal(np.asarray(outputs["mask_matched_gt"])[valid],
                                np.asarray(outputs["roi_matched_gt"])[:, :4][valid])
  predict = jax.jit(lambda v, x: model.apply(v, x, method="predict"))
  out = predict(variables, images)
  chex.assert_shape(out["masks"], (2, 10, 28, 28))
  masks, detected = np.asarray(out["masks"]), np.asarray(out["valid"])
  assert np.all(masks[~detected] == 0) and np.all((masks >= 0) & (masks <= 1))
  assert predict._cache_size() == 1
  predict(variables, images + 1.0)
  assert predict._cache_size() == 1  # Different detections, same shapes: no recompilation.


def test_fpn_variant_and_fpn_shapes():
  model = FasterRCNN(**{**TINY, "fpn": True, "fpn_width": 16, "feature_names": ("c2", "c3"),
                        "anchor_scales": (16.0, 32.0), "fpn_canonical_size": 32.0, "fpn_canonical_level": 3})
  variables = _init(model)
  outputs = jax.jit(model.apply)(variables, jnp.zeros((2, 64, 64, 3)))
  chex.assert_shape(outputs["anchors"], (16 * 16 * 3 + 8 * 8 * 3, 4))
  out = jax.jit(lambda v, x: model.apply(v, x, method="predict"))(variables, jnp.zeros((2, 64, 64, 3)))
  chex.assert_shape(out["boxes"], (2, 10, 4))
  maps = [jnp.zeros((1, 16, 16, 4)), jnp.zeros((1, 8, 8, 6)), jnp.zeros((1, 4, 4, 8))]
  fpn = FPN(width=5, extra_pool=True)
  pyramid = fpn.apply(jax.jit(fpn.init)(jax.random.PRNGKey(0), maps), maps)
  chex.assert_shape(pyramid, [(1, 16, 16, 5), (1, 8, 8, 5), (1, 4, 4, 5), (1, 2, 2, 5)])


def test_rpn_anchors_layout():
  anchors, sizes = rpn_anchors([(2, 3)], [8], [(16.0,)], (1.0,))
  assert sizes == (6,)
  np.testing.assert_allclose(np.asarray(anchors[:2]), [[-4, -4, 12, 12], [4, -4, 20, 12]])


def test_resnet_backbone_runs():
  model = FasterRCNN(**{**TINY, "backbone": "resnet18", "feature_names": ("c4",)})
  variables = _init(model)
  out = jax.jit(lambda v, x: model.apply(v, x, method="predict"))(variables, jnp.zeros((1, 64, 64, 3)))
  chex.assert_shape(out["boxes"], (1, 10, 4))


@pytest.mark.parametrize("overrides,error,match", [
    (dict(mask_head=True, mask_rois_per_image=17), ValueError, "mask_rois_per_image"),
    (dict(feature_names=("c9",)), ValueError, "feature_names"),
    (dict(feature_names=("c2", "c3")), ValueError, "without fpn"),
    (dict(fpn=True, feature_names=("c2", "c3")), ValueError, "one anchor scale per level"),
    (dict(backbone="alexnet"), ValueError, "unknown detection backbone"),
])
def test_configuration_errors(overrides, error, match):
  with pytest.raises(error, match=match):
    _init(FasterRCNN(**{**TINY, **overrides}))


def test_wrong_image_size_is_an_error():
  model = FasterRCNN(**TINY)
  variables = _init(model)
  with pytest.raises(ValueError, match="expects images"):
    model.apply(variables, jnp.zeros((1, 32, 32, 3)))


def test_loss_decreases_on_a_tiny_batch():
  task = TwoStageDetectionTask("faster_rcnn", "shapes/multi", num_classes=3, image_size=64, max_objects=3)
  model = FasterRCNN(**TINY)
  variables = _init(model)
  rng = np.random.default_rng(0)
  images = np.zeros((2, 64, 64, 3), np.float32)
  for image, boxes, valid in zip(images, np.asarray(GT_BOXES).astype(int), np.asarray(GT_VALID)):
    for k, (x1, y1, x2, y2) in enumerate(boxes[valid]):
      image[y1:y2, x1:x2] = rng.normal(size=3) + k
  batch = {"image": jnp.asarray(images), "boxes": GT_BOXES, "labels": GT_LABELS, "valid": GT_VALID,
           "is_crowd": jnp.zeros((2, 3), bool)}
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
  for name in ("rpn_objectness_loss", "rpn_box_loss", "classification_loss", "box_loss"):
    assert np.isfinite(history[-1][name]), name
  assert history[-1]["loss"] == pytest.approx(sum(history[-1][k] for k in (
      "rpn_objectness_loss", "rpn_box_loss", "classification_loss", "box_loss")), rel=1e-5)
  first, last = np.mean([h["loss"] for h in history[:3]]), np.mean([h["loss"] for h in history[-3:]])
  assert last < 0.5 * first, (first, last)
