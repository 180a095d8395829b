"""Tests for jvision/tta/box_fusion.py: a hand-computed fusion, a plain-Python WBF, and class-aware NMS."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jvision.tta import box_fusion


def _iou(a, b):
  w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
  return w * h / union if union > 0 else 0.0


def _wbf_reference(boxes, scores, classes, num_models, iou_threshold, score_threshold):
  """The paper's algorithm with Python lists."""
  clusters = []  # [class, [(score, box)]]
  for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
    if classes[i] < 0 or scores[i] <= score_threshold:
      continue
    best, best_iou = None, iou_threshold
    for cluster in clusters:
      if cluster[0] != classes[i]:
        continue
      weights = np.array([s for s, _ in cluster[1]])
      fused = (weights[:, None] * np.array([b for _, b in cluster[1]])).sum(0) / weights.sum()
      iou = _iou(fused, boxes[i])
      if iou > best_iou:
        best, best_iou = cluster, iou
    if best is None:
      clusters.append([classes[i], [(scores[i], boxes[i])]])
    else:
      best[1].append((scores[i], boxes[i]))
  out = []
  for cls, members in clusters:
    weights = np.array([s for s, _ in members])
    fused = (weights[:, None] * np.array([b for _, b in members])).sum(0) / weights.sum()
    out.append((weights.mean() * min(len(members), num_models) / num_models, cls, fused))
  return sorted(out, key=lambda t: -t[0])


def test_two_overlapping_boxes_fuse_to_their_score_weighted_mean():
  boxes = jnp.array([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9], [0, 0, 0, 0]])
  scores = jnp.array([0.9, 0.6, 0.8, 0.0])
  classes = jnp.array([0, 0, 2, -1])
  fused_boxes, fused_scores, fused_classes = box_fusion.weighted_boxes_fusion(boxes, scores, classes, 2)
  # (0.9 * 0.1 + 0.6 * 0.12) / 1.5 = 0.108; score (0.9 + 0.6) / 2 * min(2, 2) / 2 = 0.75; lone box 0.8 / 2.
  chex.assert_trees_all_close(fused_boxes[:2], jnp.array([[0.108, 0.1, 0.508, 0.5], [0.6, 0.6, 0.9, 0.9]]),
                              atol=1e-6)
  chex.assert_trees_all_close(fused_scores, jnp.array([0.75, 0.4, 0.0, 0.0]), atol=1e-6)
  np.testing.assert_array_equal(fused_classes, [0, 2, -1, -1])


def test_wbf_matches_the_plain_python_algorithm_on_random_clusters():
  rng = np.random.RandomState(0)
  centres = rng.uniform(0.2, 0.8, (4, 2))
  boxes, scores, classes = [], [], []
  for _ in range(3):  # three "augmentations", each jittering the same four objects, some missed
    for j, (cx, cy) in enumerate(centres):
      if rng.rand() < 0.2:
        boxes.append([0, 0, 0, 0])
        scores.append(0.0)
        classes.append(-1)
        continue
      jitter = rng.uniform(-0.02, 0.02, 4)
      boxes.append([cx - 0.1, cy - 0.1, cx + 0.1, cy + 0.1] + jitter)
      scores.append(rng.uniform(0.3, 1.0))
      classes.append(j % 2)
  boxes, scores, classes = np.array(boxes, np.float32), np.array(scores, np.float32), np.array(classes)
  got_boxes, got_scores, got_classes = jax.jit(box_fusion.weighted_boxes_fusion, static_argnums=3)(
      boxes, scores, classes, 3, 0.55, 0.35)
  expected = _wbf_reference(boxes, scores, classes, 3, 0.55, 0.35)
  n = len(expected)
  assert int((got_classes >= 0).sum()) == n
  chex.assert_trees_all_close(got_scores[:n], np.array([e[0] for e in expected]), atol=1e-6)
  np.testing.assert_array_equal(got_classes[:n], [e[1] for e in expected])
  chex.assert_trees_all_close(got_boxes[:n], np.array([e[2] for e in expected]), atol=1e-6)


def greedy_nms(boxes, scores, iou_threshold, max_output_size, score_threshold=-jnp.inf):
  """A stand-in with jvision.ops.nms's signature: greedy NMS, indices padded with -1."""
  def iou(box, others):
    w = jnp.clip(jnp.minimum(box[2], others[:, 2]) - jnp.maximum(box[0], others[:, 0]), 0)
    h = jnp.clip(jnp.minimum(box[3], others[:, 3]) - jnp.maximum(box[1], others[:, 1]), 0)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return w * h / (area(box) + area(others) - w * h)

  order = jnp.argsort(-scores)

  def body(i, state):
    keep, suppressed, count = state
    index = order[i]
    take = ~suppressed[index] & (scores[index] > score_threshold) & (count < max_output_size)
    keep = jnp.where(take, keep.at[count].set(index), keep)
    suppressed = jnp.where(take, suppressed | (iou(boxes[index], boxes) > iou_threshold), suppressed)
    return keep, suppressed, count + take

  init = (jnp.full((max_output_size,), -1), jnp.zeros(scores.shape, bool), 0)
  return jax.lax.fori_loop(0, scores.shape[0], body, init)[0]


def test_class_aware_nms_keeps_overlapping_boxes_of_different_classes():
  boxes = jnp.array([[0.1, 0.1, 0.5, 0.5], [0.11, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.5], [0, 0, 0, 0]])
  scores = jnp.array([0.9, 0.8, 0.7, 0.95])
  classes = jnp.array([0, 0, 1, -1])
  kept_boxes, kept_scores, kept_classes = box_fusion.class_aware_nms(boxes, scores, classes, greedy_nms, 0.5, 3)
  chex.assert_trees_all_close(kept_scores, jnp.array([0.9, 0.7, 0.0]))
  np.testing.assert_array_equal(kept_classes, [0, 1, -1])
  chex.assert_trees_all_close(kept_boxes[1], boxes[2])
