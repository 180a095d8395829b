"""The box head shared by Fast R-CNN and Faster R-CNN, and its decoding into detections.

Girshick, "Fast R-CNN", ICCV 2015, section 2: each pooled RoI feature goes through two fully connected layers
(fc6, fc7 with ReLU), then two sibling outputs: softmax logits over ``K + 1`` classes (index 0 is background)
and, for each of the ``K`` foreground classes, four box deltas relative to the RoI (``encode_boxes`` weights
(10, 10, 5, 5), as torchvision).

``detect_from_rois`` is the test-time step of section 3: per class, the RoI is refined by that class's deltas
and scored by its softmax probability; candidates above ``score_threshold`` go through per-class NMS and the
best ``max_detections`` are kept (static shapes, padded and masked).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.ops import boxes as box_ops
from jvision.ops.nms import batched_nms, gather_kept
from jvision.ops.sampling import HEAD_BOX_WEIGHTS


class BoxHead(nn.Module):
  """``[R, h, w, C]`` pooled RoIs -> ``class_logits [R, K + 1]``, ``box_deltas [R, K, 4]`` (float32)."""
  num_classes: int
  width: int = 1024
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, pooled):
    dense = lambda features, name, std=None: nn.Dense(
        features, dtype=self.dtype, param_dtype=self.param_dtype, name=name,
        **({"kernel_init": nn.initializers.normal(std)} if std else {}))
    x = jnp.asarray(pooled, self.dtype).reshape(pooled.shape[0], -1)
    x = nn.relu(dense(self.width, "fc6")(x))
    x = nn.relu(dense(self.width, "fc7")(x))
    # Small initial outputs (the paper's N(0, 0.01) and N(0, 0.001)) keep the first steps well behaved.
    class_logits = dense(self.num_classes + 1, "class_logits", 0.01)(x)
    box_deltas = dense(4 * self.num_classes, "box_deltas", 0.001)(x)
    return (class_logits.astype(jnp.float32),
            box_deltas.reshape(pooled.shape[0], self.num_classes, 4).astype(jnp.float32))


def detect_from_rois(class_logits, box_deltas, rois, roi_valid, image_size: Sequence[int], *,
                     score_threshold: float = 0.05, nms_threshold: float = 0.5, max_detections: int = 100,
                     pre_nms_top_k: int = 1000, box_weights: Sequence[float] = HEAD_BOX_WEIGHTS):
  """Box-head outputs of one image -> detections.

  Args:
    class_logits: ``[R, K + 1]``; box_deltas ``[R, K, 4]``.
    rois: ``[R, 4]`` xyxy pixels; roi_valid ``[R]`` bool.
    image_size: ``(height, width)`` to clip to.
    score_threshold, nms_threshold, max_detections: as in the paper's test procedure.
    pre_nms_top_k: static cap on the (RoI, class) candidates that enter NMS.

  Returns:
    dict of ``boxes [D, 4]`` xyxy pixels, ``scores [D]``, ``classes [D]`` int32 (0-based, -1 padding),
    ``valid [D]`` bool, ``D = max_detections``.
  """
  num_rois, num_classes = box_deltas.shape[:2]
  probabilities = jax.nn.softmax(class_logits.astype(jnp.float32), axis=-1)[:, 1:]  # [R, K]
  boxes = box_ops.decode_boxes(box_deltas.astype(jnp.float32), rois[:, None, :], box_weights)
  boxes = box_ops.clip_boxes(boxes, image_size).reshape(-1, 4)
  area_ok = ((boxes[:, 2] - boxes[:, 0]) > 1e-2) & ((boxes[:, 3] - boxes[:, 1]) > 1e-2)
  scores = jnp.where(roi_valid[:, None], probabilities, -jnp.inf).reshape(-1)
  scores = jnp.where(area_ok, scores, -jnp.inf)
  classes = jnp.broadcast_to(jnp.arange(num_classes, dtype=jnp.int32), (num_rois, num_classes)).reshape(-1)
  top_scores, top = jax.lax.top_k(scores, min(pre_nms_top_k, scores.shape[0]))
  kept = batched_nms(boxes[top], top_scores, classes[top], nms_threshold, max_detections, score_threshold)
  valid = kept >= 0
  return {"boxes": gather_kept(boxes[top], kept), "scores": jnp.where(valid, gather_kept(top_scores, kept), 0.0),
          "classes": jnp.where(valid, gather_kept(classes[top], kept), -1), "valid": valid}
