"""Tests for jvision/models/roi_heads.py: the box head's output shapes and the test-time decoding of
hand-built logits and deltas (per-class refinement, score threshold, per-class NMS, padding)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jvision.models.roi_heads import BoxHead, detect_from_rois
from jvision.ops import boxes as box_ops


def test_box_head_shapes():
  head = BoxHead(num_classes=3, width=16)
  variables = head.init(jax.random.PRNGKey(0), jnp.zeros((5, 7, 7, 4)))
  logits, deltas = head.apply(variables, jnp.ones((5, 7, 7, 4)))
  chex.assert_shape(logits, (5, 4))
  chex.assert_shape(deltas, (5, 3, 4))


def test_detect_from_rois_by_hand():
  rois = jnp.array([[10, 10, 30, 30], [12, 10, 32, 30], [40, 40, 60, 60], [0, 0, 8, 8]], jnp.float32)
  big = 10.0
  # RoI 0 and 1: class 0 (overlapping, IoU 0.82: the weaker is suppressed); RoI 2: class 1; RoI 3: background.
  class_logits = jnp.array([[0, big, 0], [0, big - 1, 0], [0, 0, big], [big, 0, 0]], jnp.float32)
  box_deltas = jnp.zeros((4, 2, 4))
  target = jnp.array([44, 42, 64, 62], jnp.float32)  # Class 1's refinement of RoI 2, clipped to 64.
  box_deltas = box_deltas.at[2, 1].set(box_ops.encode_boxes(target, rois[2], (10, 10, 5, 5)))
  valid = jnp.array([True, True, True, True])
  out = jax.jit(lambda *a: detect_from_rois(*a, image_size=(64, 64), score_threshold=0.5, max_detections=5))(
      class_logits, box_deltas, rois, valid)
  out = jax.tree.map(np.asarray, out)
  assert out["valid"].tolist() == [True, True, False, False, False]
  np.testing.assert_allclose(out["boxes"][:2], [[10, 10, 30, 30], [44, 42, 64, 62]], atol=1e-4)
  assert out["classes"].tolist() == [0, 1, -1, -1, -1]
  p = np.exp(big) / (np.exp(big) + 2)
  np.testing.assert_allclose(out["scores"][:2], [p, p], rtol=1e-5)
  # An invalid RoI never becomes a detection.
  out = detect_from_rois(class_logits, box_deltas, rois, jnp.array([False, False, True, True]), (64, 64),
                         score_threshold=0.5, max_detections=5)
  assert np.asarray(out["classes"]).tolist() == [1, -1, -1, -1, -1]
