"""Tests for jvision/ops/boxes.py against numpy re-derivations and hand-computed values."""

import chex
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jvision.ops import boxes as box_ops


def random_boxes(rng, n, size=100.0):
  xy = rng.uniform(0, size, (n, 2))
  wh = rng.uniform(0, size / 2, (n, 2))
  return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def numpy_iou(a, b):
  out = np.zeros((len(a), len(b)), np.float64)
  for i, p in enumerate(a):
    for j, q in enumerate(b):
      w = max(min(p[2], q[2]) - max(p[0], q[0]), 0)
      h = max(min(p[3], q[3]) - max(p[1], q[1]), 0)
      inter = w * h
      union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
      out[i, j] = inter / union if union > 0 else 0.0
  return out


def test_format_conversions_hand_values():
  xyxy = jnp.array([[1.0, 2.0, 5.0, 10.0]])
  chex.assert_trees_all_close(box_ops.xyxy_to_xywh(xyxy), jnp.array([[1.0, 2.0, 4.0, 8.0]]))
  chex.assert_trees_all_close(box_ops.xyxy_to_cxcywh(xyxy), jnp.array([[3.0, 6.0, 4.0, 8.0]]))
  chex.assert_trees_all_close(box_ops.convert_boxes(jnp.array([[3.0, 6.0, 4.0, 8.0]]), "cxcywh", "xywh"),
                              jnp.array([[1.0, 2.0, 4.0, 8.0]]))
  boxes = random_boxes(np.random.default_rng(0), 7)
  for fmt in ("xywh", "cxcywh"):
    back = box_ops.convert_boxes(box_ops.convert_boxes(boxes, "xyxy", fmt), fmt, "xyxy")
    chex.assert_trees_all_close(back, boxes, atol=1e-4)
  with pytest.raises(ValueError, match="box formats"):
    box_ops.convert_boxes(boxes, "xyxy", "yxyx")
  with pytest.raises(ValueError, match=r"\[\.\.\., 4\]"):
    box_ops.box_area(jnp.zeros((3, 5)))


def test_box_iou_matches_numpy_and_hand_value():
  a = jnp.array([[0.0, 0.0, 2.0, 2.0]])
  b = jnp.array([[1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
  # Intersection 1, union 4 + 4 - 1 = 7.
  chex.assert_trees_all_close(box_ops.box_iou(a, b), jnp.array([[1 / 7, 0.0]]))
  rng = np.random.default_rng(1)
  p, q = random_boxes(rng, 9), random_boxes(rng, 6)
  chex.assert_trees_all_close(box_ops.box_iou(p, q), numpy_iou(p, q).astype(np.float32), atol=1e-6)
  # GIoU of the hand case: enclosing [0,0,3,3] = 9, so 1/7 - (9 - 7)/9.
  chex.assert_trees_all_close(box_ops.generalized_box_iou(a, b[:1]), jnp.array([[1 / 7 - 2 / 9]]))


def test_degenerate_boxes_are_finite_with_finite_gradients():
  boxes = jnp.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 5.0], [2.0, 2.0, 4.0, 4.0]])
  for fn in (box_ops.box_iou, box_ops.generalized_box_iou):
    value = fn(boxes, boxes)
    assert np.all(np.isfinite(value))
    grad = jax.grad(lambda b: fn(b, b).sum())(boxes)
    assert np.all(np.isfinite(grad)), fn.__name__
  assert float(box_ops.box_iou(boxes, boxes)[0, 0]) == 0.0
  deltas = box_ops.encode_boxes(boxes, boxes[::-1])
  assert np.all(np.isfinite(deltas))
  grad = jax.grad(lambda b: box_ops.encode_boxes(b, b[::-1]).sum())(boxes)
  assert np.all(np.isfinite(grad))


box_arrays = hnp.arrays(np.float32, (8, 4), elements=st.floats(0, 100, width=32))


@settings(max_examples=40, deadline=None)
@given(box_arrays, box_arrays)
def test_iou_in_unit_interval_and_symmetric(raw1, raw2):
  b1 = np.concatenate([np.minimum(raw1[:, :2], raw1[:, 2:]), np.maximum(raw1[:, :2], raw1[:, 2:])], 1)
  b2 = np.concatenate([np.minimum(raw2[:, :2], raw2[:, 2:]), np.maximum(raw2[:, :2], raw2[:, 2:])], 1)
  iou12 = np.asarray(box_ops.box_iou(b1, b2))
  iou21 = np.asarray(box_ops.box_iou(b2, b1))
  assert np.all((iou12 >= 0) & (iou12 <= 1 + 1e-6))
  np.testing.assert_allclose(iou12, iou21.T, atol=1e-6)
  giou = np.asarray(box_ops.generalized_box_iou(b1, b2))
  assert np.all((giou >= -1 - 1e-6) & (giou <= iou12 + 1e-6))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, (6, 4), elements=st.floats(0, 500)),
       hnp.arrays(np.float64, (6, 4), elements=st.floats(1, 300)))
def test_encode_decode_round_trip(corners, sizes):
  boxes = np.concatenate([corners[:, :2], corners[:, :2] + sizes[:, :2]], 1).astype(np.float32)
  anchors = np.concatenate([corners[:, 2:], corners[:, 2:] + sizes[:, 2:]], 1).astype(np.float32)
  weights = (10.0, 10.0, 5.0, 5.0)
  deltas = box_ops.encode_boxes(boxes, anchors, weights)
  decoded = box_ops.decode_boxes(deltas, anchors, weights, scale_clamp=np.inf)
  np.testing.assert_allclose(np.asarray(decoded), boxes, rtol=1e-4, atol=1e-2)


def test_encode_hand_value_and_decode_clamp():
  anchor = jnp.array([[0.0, 0.0, 10.0, 20.0]])
  box = jnp.array([[5.0, 0.0, 25.0, 20.0]])  # centre moves +10 in x, width doubles
  deltas = box_ops.encode_boxes(box, anchor, (10.0, 10.0, 5.0, 5.0))
  chex.assert_trees_all_close(deltas, jnp.array([[10.0, 0.0, 5 * np.log(2.0), 0.0]]), atol=1e-5)
  huge = box_ops.decode_boxes(jnp.array([[0.0, 0.0, 100.0, 100.0]]), anchor)
  width = float(huge[0, 2] - huge[0, 0])
  np.testing.assert_allclose(width, 10.0 * 1000 / 16, rtol=1e-5)


def test_clip_boxes():
  boxes = jnp.array([[-5.0, 3.0, 50.0, 70.0]])
  chex.assert_trees_all_close(box_ops.clip_boxes(boxes, (60, 40)), jnp.array([[0.0, 3.0, 40.0, 60.0]]))
