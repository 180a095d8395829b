"""Losses of single-shot detectors and of OverFeat localization, per image, with static shapes.

* ``ssd_loss`` (Liu et al., "SSD", ECCV 2016, section 2.2): default boxes are matched to ground truth by IoU >=
  0.5 plus a forced best match per ground truth; smooth-L1 on the encoded offsets of the positives plus softmax
  cross-entropy on the positives and on the hardest negatives (at most ``neg_pos_ratio`` per positive), divided
  by the number of positives.
* ``yolo_loss`` (Redmon et al., "You Only Look Once", CVPR 2016, section 2.2, eq. 3): sum-squared error with
  ``lambda_coord = 5`` on the responsible predictor's centre and square-root size, its confidence trained
  towards its IoU with the ground truth, ``lambda_noobj = 0.5`` on the confidence of the other predictors, and
  the class probabilities of cells holding an object.
* ``overfeat_loss`` (Sermanet et al., "OverFeat", ICLR 2014, section 4): cross-entropy on the class plus the
  mean squared error of the class-specific box regressor on the true class.

Ground truth comes padded: ``gt_boxes [G, 4]``, ``gt_labels [G]`` (0-based foreground classes), ``gt_valid
[G]``. Use ``jax.vmap`` for a batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jvision.ops import anchors, boxes as box_ops, matching

SSD_BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def smooth_l1(x, beta: float = 1.0):
  """Huber-like smooth L1: ``0.5 x^2 / beta`` if ``|x| < beta`` else ``|x| - 0.5 beta`` (elementwise)."""
  ax = jnp.abs(x)
  return jnp.where(ax < beta, 0.5 * x * x / beta, ax - 0.5 * beta)


def hard_negative_mining(losses, positive, neg_pos_ratio: float = 3.0, ignore=None):
  """Selects the negatives with the highest loss, ``neg_pos_ratio`` per positive (SSD section 2.2).

  Args:
    losses: ``[N]`` per-box classification losses (only their order matters; no gradient flows through it).
    positive: ``[N]`` bool.
    neg_pos_ratio: negatives kept per positive.
    ignore: optional ``[N]`` bool of boxes that are neither positive nor negative.

  Returns:
    ``[N]`` bool, the selected negatives (ties broken by the lower index).
  """
  negative = ~positive if ignore is None else ~positive & ~ignore
  num_negatives = jnp.minimum(jnp.floor(neg_pos_ratio * positive.sum()), negative.sum())
  ranked = jnp.where(negative, jax.lax.stop_gradient(losses), -jnp.inf)
  order = jnp.argsort(-ranked, stable=True)
  rank = jnp.empty_like(order).at[order].set(jnp.arange(order.shape[0]))
  return negative & (rank < num_negatives)


def ssd_targets(gt_boxes, gt_labels, gt_valid, default_boxes, iou_threshold: float = 0.5):
  """Matches ground truth (xyxy in [0, 1]) to default boxes.

  Returns:
    ``labels [N]`` int32 (0 background, ``class + 1`` for positives) and ``deltas [N, 4]`` (encoded matched
    boxes, zero for background).
  """
  iou = box_ops.box_iou(gt_boxes, default_boxes)
  matches = matching.match_anchors(iou, gt_valid, iou_threshold, force_match_each_gt=True)
  labels = matching.gather_matched(gt_labels.astype(jnp.int32) + 1, matches, 0)
  matched = matching.gather_matched(gt_boxes, matches, 0.0)
  deltas = box_ops.encode_boxes(matched, default_boxes, SSD_BOX_WEIGHTS)
  return labels, jnp.where((matches >= 0)[:, None], deltas, 0.0)


def ssd_loss(class_logits, box_deltas, gt_boxes, gt_labels, gt_valid, default_boxes, *,
             iou_threshold: float = 0.5, neg_pos_ratio: float = 3.0):
  """SSD multibox loss of one image, un-normalised.

  Args:
    class_logits: ``[N, C + 1]`` (column 0 background); box_deltas ``[N, 4]``.
    gt_boxes: ``[G, 4]`` xyxy in [0, 1]; gt_labels ``[G]``; gt_valid ``[G]``.
    default_boxes: ``[N, 4]`` xyxy in [0, 1].

  Returns:
    ``(localization, confidence, num_positives)``: the smooth-L1 sum over positives, the cross-entropy sum
    over positives and mined negatives, and the number of positives. The SSD loss of a batch is
    ``sum(localization + confidence) / max(sum(num_positives), 1)``.
  """
  labels, target_deltas = ssd_targets(gt_boxes, gt_labels, gt_valid, default_boxes, iou_threshold)
  positive = labels > 0
  cross_entropy = optax.softmax_cross_entropy_with_integer_labels(class_logits.astype(jnp.float32), labels)
  negatives = hard_negative_mining(cross_entropy, positive, neg_pos_ratio)
  confidence = jnp.sum(jnp.where(positive | negatives, cross_entropy, 0.0))
  localization = jnp.sum(jnp.where(positive[:, None], smooth_l1(box_deltas - target_deltas), 0.0))
  return localization, confidence, positive.sum().astype(jnp.float32)


def yolo_loss(predictions, gt_boxes, gt_labels, gt_valid, image_size, num_boxes: int, *,
              lambda_coord: float = 5.0, lambda_noobj: float = 0.5):
  """YOLO v1 loss of one image (eq. 3 of the paper).

  Args:
    predictions: ``[S, S, num_boxes * 5 + C]`` activated outputs: per predictor ``(x, y, sqrt_w, sqrt_h,
      confidence)`` (``yolo_encode_boxes`` units), then ``C`` class probabilities.
    gt_boxes: ``[G, 4]`` xyxy pixels; gt_labels ``[G]``; gt_valid ``[G]``.
    image_size: ``(H, W)`` or a side.
    num_boxes: predictors per cell (``B``).

  Returns:
    dict of scalar terms ``coord``, ``object``, ``noobject``, ``class`` (weights applied) and ``total``.
    When two objects have their centre in the same cell, the later one is that cell's ground truth.
  """
  rows, cols, channels = predictions.shape
  num_classes = channels - 5 * num_boxes
  if num_classes < 1:
    raise ValueError(f"predictions have {channels} channels, fewer than 5 * {num_boxes} + 1")
  cells = anchors.yolo_cell_index(gt_boxes, (rows, cols), image_size)  # [G, 2]
  flat_cell = cells[:, 0] * cols + cells[:, 1]
  # The responsible object of each cell: the last valid one whose centre falls in it (-1 if none).
  order = jnp.arange(gt_boxes.shape[0])
  owner = jnp.full((rows * cols,), -1, jnp.int32).at[jnp.where(gt_valid, flat_cell, rows * cols)].max(
      order.astype(jnp.int32), mode="drop")
  has_object = owner >= 0  # [S*S]
  owner = jnp.maximum(owner, 0)
  target_boxes = gt_boxes[owner]  # [S*S, 4] xyxy
  cell_index = jnp.stack([jnp.arange(rows * cols) // cols, jnp.arange(rows * cols) % cols], -1)
  target_encoded = anchors.yolo_encode_boxes(target_boxes, cell_index, (rows, cols), image_size)  # [S*S, 4]
  target_class = jax.nn.one_hot(gt_labels[owner], num_classes)

  flat = predictions.reshape(rows * cols, channels).astype(jnp.float32)
  boxes = flat[:, :5 * num_boxes].reshape(rows * cols, num_boxes, 5)
  encoded, confidence = boxes[..., :4], boxes[..., 4]
  class_probabilities = flat[:, 5 * num_boxes:]
  decoded = anchors.yolo_decode_boxes(encoded.reshape(rows, cols, num_boxes, 4), (rows, cols), image_size)
  decoded = decoded.reshape(rows * cols, num_boxes, 4)
  iou = jax.vmap(lambda p, t: box_ops.box_iou(p, t[None])[:, 0])(decoded, target_boxes)  # [S*S, B]
  iou = jax.lax.stop_gradient(iou)
  responsible = jax.nn.one_hot(jnp.argmax(iou, axis=1), num_boxes, dtype=bool) & has_object[:, None]

  coord = jnp.sum(jnp.where(responsible[..., None], jnp.square(encoded - target_encoded[:, None]), 0.0))
  obj = jnp.sum(jnp.where(responsible, jnp.square(confidence - iou), 0.0))
  noobj = jnp.sum(jnp.where(responsible, 0.0, jnp.square(confidence)))
  cls = jnp.sum(jnp.where(has_object[:, None], jnp.square(class_probabilities - target_class), 0.0))
  terms = {"coord": lambda_coord * coord, "object": obj, "noobject": lambda_noobj * noobj, "class": cls}
  terms["total"] = sum(terms.values())
  return terms


def overfeat_loss(class_logits, box_predictions, gt_box, gt_label):
  """OverFeat localization loss of one window.

  Args:
    class_logits: ``[C]``, or ``[C + 1]`` with a background class (the last); box_predictions ``[C, 4]``
      (class-specific regressors), in the units of ``gt_box`` (e.g. xyxy as fractions of the window).
    gt_box: ``[4]``; gt_label: int, ``C`` for a background window.

  Returns:
    ``(cross_entropy, squared_error)``: the class term and the mean squared error of the true class's box,
    0 for a background window (the loss is their weighted sum).
  """
  cross_entropy = optax.softmax_cross_entropy_with_integer_labels(class_logits.astype(jnp.float32), gt_label)
  num_box_classes = box_predictions.shape[0]
  box = box_predictions[jnp.minimum(gt_label, num_box_classes - 1)].astype(jnp.float32)
  squared_error = jnp.where(gt_label < num_box_classes, jnp.mean(jnp.square(box - gt_box)), 0.0)
  return cross_entropy, squared_error
