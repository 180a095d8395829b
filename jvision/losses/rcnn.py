"""Losses of two-stage detectors (Fast R-CNN, Girshick 2015, eq. 1; Faster R-CNN, Ren et al. 2015, eq. 1).

Per image, with static shapes:

* ``rpn_loss``: anchors labelled by ``jvision.ops.sampling.rpn_targets`` (IoU 0.7 / 0.3), a random minibatch of
  ``num_samples`` (up to half positive) drawn by ``balanced_sample_mask``; binary cross-entropy of the objectness
  over the minibatch and smooth-L1 of the box deltas over its positives, both summed (the caller divides by
  the number of sampled anchors, as torchvision).
* ``box_head_loss``: softmax cross-entropy over ``K + 1`` classes of the sampled RoIs and smooth-L1 of the
  true class's deltas of the foreground RoIs, both summed (the caller divides by the number of sampled RoIs).

* ``mask_branch_loss``: Mask R-CNN's mask loss (He et al. 2017, section 3) of a batch: each foreground RoI's
  target is its ground-truth mask cropped to the RoI (``jvision.ops.masks.mask_targets``), scored by
  ``jvision.losses.instance_segmentation.mask_rcnn_loss`` (per-pixel binary cross-entropy of the own class's
  logits, averaged over the pixels of all foreground RoIs of the batch).

``smooth_l1`` uses ``beta = 1/9`` by default (torchvision's Faster R-CNN; the papers use 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jvision.losses.detection import smooth_l1
from jvision.losses.instance_segmentation import mask_rcnn_loss
from jvision.ops import sampling
from jvision.ops.masks import mask_targets

BOX_BETA = 1.0 / 9.0


def rpn_loss(objectness, deltas, anchors, gt_boxes, gt_valid, rng, *, num_samples: int = 256,
             positive_fraction: float = 0.5, high_threshold: float = 0.7, low_threshold: float = 0.3,
             beta: float = BOX_BETA):
  """RPN loss terms of one image.

  Args:
    objectness: ``[A]`` logits; deltas ``[A, 4]``.
    anchors: ``[A, 4]`` xyxy pixels.
    gt_boxes: ``[G, 4]`` xyxy pixels; gt_valid ``[G]``.
    rng: PRNG key of the anchor minibatch.

  Returns:
    ``(objectness_sum, box_sum, num_sampled)``.
  """
  labels, target_deltas = sampling.rpn_targets(anchors, gt_boxes, gt_valid, high_threshold, low_threshold)
  positive, negative = sampling.balanced_sample_mask(labels == 1, labels == 0, num_samples, positive_fraction, rng)
  sampled = positive | negative
  bce = optax.sigmoid_binary_cross_entropy(objectness.astype(jnp.float32), positive.astype(jnp.float32))
  objectness_sum = jnp.sum(jnp.where(sampled, bce, 0.0))
  box_sum = jnp.sum(jnp.where(positive[:, None], smooth_l1(deltas.astype(jnp.float32) - target_deltas, beta), 0.0))
  return objectness_sum, box_sum, sampled.sum().astype(jnp.float32)


def box_head_loss(class_logits, box_deltas, labels, target_deltas, valid, *, beta: float = BOX_BETA):
  """Box-head loss terms of one image's sampled RoIs.

  Args:
    class_logits: ``[R, K + 1]``; box_deltas ``[R, K, 4]``.
    labels: ``[R]`` int (0 background, class + 1); target_deltas ``[R, 4]``; valid ``[R]`` bool.

  Returns:
    ``(classification_sum, box_sum, num_sampled)``.
  """
  cross_entropy = optax.softmax_cross_entropy_with_integer_labels(class_logits.astype(jnp.float32), labels)
  classification_sum = jnp.sum(jnp.where(valid, cross_entropy, 0.0))
  foreground = valid & (labels > 0)
  class_deltas = jnp.take_along_axis(box_deltas, jnp.maximum(labels - 1, 0)[:, None, None], axis=1)[:, 0]
  box_sum = jnp.sum(jnp.where(foreground[:, None], smooth_l1(class_deltas.astype(jnp.float32) - target_deltas,
                                                             beta), 0.0))
  return classification_sum, box_sum, valid.sum().astype(jnp.float32)


def faster_rcnn_losses(outputs, gt_boxes, gt_valid, rng, *, rpn_samples: int = 256,
                       rpn_positive_fraction: float = 0.5):
  """The four Faster R-CNN losses of a batch of ``FasterRCNN`` training outputs.

  Returns:
    dict of scalar ``rpn_objectness_loss``, ``rpn_box_loss`` (normalised by the sampled anchors of the batch),
    ``classification_loss``, ``box_loss`` (normalised by the sampled RoIs of the batch) and ``loss`` (their
    sum).
  """
  rngs = jax.random.split(rng, gt_boxes.shape[0])
  rpn = jax.vmap(lambda o, d, b, v, r: rpn_loss(o, d, outputs["anchors"], b, v, r, num_samples=rpn_samples,
                                                positive_fraction=rpn_positive_fraction))
  rpn_objectness, rpn_box, anchors_sampled = rpn(outputs["rpn_objectness"], outputs["rpn_deltas"], gt_boxes,
                                                 gt_valid, rngs)
  head = fast_rcnn_losses(outputs)
  anchors_sampled = jnp.maximum(anchors_sampled.sum(), 1.0)
  losses = {"rpn_objectness_loss": rpn_objectness.sum() / anchors_sampled,
            "rpn_box_loss": rpn_box.sum() / anchors_sampled, **head}
  losses["loss"] = sum(losses.values())
  return losses


def fast_rcnn_losses(outputs):
  """``classification_loss`` and ``box_loss`` of a batch of training outputs with sampled RoIs
  (``roi_labels``, ``roi_target_deltas``, ``roi_valid``), normalised by the number of sampled RoIs."""
  classification, box, sampled = jax.vmap(box_head_loss)(outputs["class_logits"], outputs["box_deltas"],
                                                          outputs["roi_labels"], outputs["roi_target_deltas"],
                                                          outputs["roi_valid"])
  sampled = jnp.maximum(sampled.sum(), 1.0)
  return {"classification_loss": classification.sum() / sampled, "box_loss": box.sum() / sampled}


def mask_branch_loss(outputs, gt_masks):
  """``mask_loss`` of a batch of ``FasterRCNN(mask_head=True)`` training outputs.

  Args:
    outputs: with ``mask_logits [B, F, M, M, K]``, ``mask_rois [B, F, 4]`` (pixels of the masks),
      ``mask_classes [B, F]`` (0-based), ``mask_matched_gt [B, F]`` and ``mask_valid [B, F]``.
    gt_masks: ``[B, G, H, W]`` instance masks, in the order of the ground truth given to the model.

  Returns:
    scalar float32, the mean over the pixels of all valid mask RoIs (0 when there are none).
  """
  logits = outputs["mask_logits"]
  size = logits.shape[2]
  targets = jax.vmap(lambda masks, rois, matched: mask_targets(masks, rois, matched, size=size))(
      gt_masks, jax.lax.stop_gradient(outputs["mask_rois"]), outputs["mask_matched_gt"])
  flat = lambda x: x.reshape(-1, *x.shape[2:])
  return mask_rcnn_loss(flat(logits), flat(targets), flat(outputs["mask_classes"]), flat(outputs["mask_valid"]))
