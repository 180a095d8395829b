"""Fast R-CNN: RoI max pooling over given proposals and a two-sibling box head (Girshick, "Fast R-CNN", ICCV 2015).

The whole image goes through the backbone once (``jvision.models.detection_backbone``, map ``feature_name``);
each proposal is max-pooled to ``roi_output_size`` squares with RoIPool (section 2.1, ``jvision.ops.roi_pool``);
``jvision.models.roi_heads.BoxHead`` gives softmax logits over ``K + 1`` classes and class-specific box deltas
(section 2.3). In training (ground truth given) each image's minibatch is ``roi_samples`` RoIs, 25% foreground
at IoU >= 0.5 and background in ``[0.1, 0.5)`` (section 2.3, "mini-batch sampling"), drawn by
``jvision.ops.sampling.sample_rois`` from the proposals plus the ground truth. The loss (``jvision.losses.rcnn``)
is cross-entropy plus smooth-L1 (eq. 1).

Proposals are an input (selective search in the paper): ``proposals [B, P, 4]`` xyxy pixels of the model
input and ``proposal_valid [B, P]``.

``FastRCNN.__call__(images, proposals=None, proposal_valid=None, gt_boxes=None, gt_labels=None, gt_valid=None,
train=False)`` returns ``rois [B, R, 4]``, ``roi_valid [B, R]``, ``class_logits [B, R, K + 1]``,
``box_deltas [B, R, K, 4]`` and with ground truth ``roi_labels``, ``roi_matched_gt``, ``roi_target_deltas``
(RoIs are the proposals when there is no ground truth; with no proposals at all, one whole-image box, so that
``init(rng, images)`` works). ``FastRCNN.predict(images, proposals, proposal_valid)`` returns ``boxes [B, D, 4]``,
``scores``, ``classes``, ``valid``. All shapes are static.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.models.detection_backbone import DetectionBackbone, backbone_strides
from jvision.models.roi_heads import BoxHead, detect_from_rois
from jvision.ops import roi as roi_ops
from jvision.ops.sampling import sample_rois


class FastRCNN(nn.Module):
  """Fast R-CNN over square ``image_size`` inputs and given proposals (see the module docstring).

  Attributes:
    num_classes: foreground classes ``K``.
    image_size: side of the input images.
    backbone, backbone_widths, feature_name: ``DetectionBackbone`` and the map RoIs are pooled from.
    roi_output_size: RoIPool output side (7 for VGG-16).
    roi_samples, roi_positive_fraction, fg_iou_threshold, bg_iou_high, bg_iou_low: minibatch sampling.
    head_width: fc6/fc7 width.
    score_threshold, nms_threshold, max_detections: test-time decoding.
  """
  num_classes: int
  image_size: int = 128
  backbone: str = "simple"
  backbone_widths: Sequence[int] = (32, 64, 128)
  feature_name: str = "c3"
  roi_output_size: int = 7
  roi_samples: int = 64
  roi_positive_fraction: float = 0.25
  fg_iou_threshold: float = 0.5
  bg_iou_high: float = 0.5
  bg_iou_low: float = 0.1
  head_width: int = 256
  score_threshold: float = 0.05
  nms_threshold: float = 0.3
  max_detections: int = 100
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    if self.num_classes < 1:
      raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
    strides = backbone_strides(self.backbone, self.backbone_widths)
    if self.feature_name not in strides:
      raise ValueError(f"feature_name {self.feature_name!r} is not a map of the {self.backbone!r} backbone: "
                       f"{', '.join(strides)}")
    self.body = DetectionBackbone(self.backbone, tuple(self.backbone_widths), dtype=self.dtype,
                                  param_dtype=self.param_dtype)
    self.box_head = BoxHead(self.num_classes, self.head_width, dtype=self.dtype, param_dtype=self.param_dtype)

  @property
  def stride(self) -> int:
    return backbone_strides(self.backbone, self.backbone_widths)[self.feature_name]

  def __call__(self, images, proposals=None, proposal_valid=None, gt_boxes=None, gt_labels=None, gt_valid=None,
               train: bool = False) -> dict:
    if images.ndim != 4 or images.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"FastRCNN expects images [B, {self.image_size}, {self.image_size}, C], got {images.shape}")
    batch = images.shape[0]
    if proposals is None:
      proposals = jnp.broadcast_to(jnp.asarray([0.0, 0.0, self.image_size, self.image_size]), (batch, 1, 4))
    if proposals.ndim != 3 or proposals.shape[0] != batch or proposals.shape[2] != 4:
      raise ValueError(f"proposals must be [B, P, 4] xyxy with B = {batch}, got {proposals.shape}")
    if proposal_valid is None:
      proposal_valid = jnp.ones(proposals.shape[:2], bool)
    if proposal_valid.shape != proposals.shape[:2]:
      raise ValueError(f"proposal_valid must be [B, P] = {proposals.shape[:2]}, got {proposal_valid.shape}")
    feature = self.body(images, train)[self.feature_name]
    outputs = {}
    if gt_boxes is not None:
      if gt_labels is None or gt_valid is None:
        raise ValueError("gt_boxes needs gt_labels and gt_valid")
      sample = functools.partial(sample_rois, num_samples=self.roi_samples,
                                 positive_fraction=self.roi_positive_fraction, fg_iou_threshold=self.fg_iou_threshold,
                                 bg_iou_high=self.bg_iou_high, bg_iou_low=self.bg_iou_low)
      rngs = jax.random.split(self.make_rng("sampling"), batch)
      sampled = jax.vmap(sample)(proposals.astype(jnp.float32), proposal_valid, gt_boxes.astype(jnp.float32),
                                 gt_labels, gt_valid, rngs)
      rois, roi_valid = sampled["boxes"], sampled["valid"]
      outputs.update(roi_labels=sampled["labels"], roi_matched_gt=sampled["matched_gt"],
                     roi_target_deltas=sampled["target_deltas"])
    else:
      rois, roi_valid = proposals.astype(jnp.float32), jnp.asarray(proposal_valid, bool)
    pool = lambda f, boxes: roi_ops.roi_pool(f[None], boxes, jnp.zeros(boxes.shape[:1], jnp.int32),
                                             self.roi_output_size, spatial_scale=1.0 / self.stride)
    pooled = jax.vmap(pool)(feature, rois)
    num_rois = rois.shape[1]
    class_logits, box_deltas = self.box_head(pooled.reshape(batch * num_rois, *pooled.shape[2:]))
    outputs.update(rois=rois, roi_valid=roi_valid, class_logits=class_logits.reshape(batch, num_rois, -1),
                   box_deltas=box_deltas.reshape(batch, num_rois, self.num_classes, 4))
    return outputs

  def predict(self, images, proposals, proposal_valid) -> dict:
    """``images [B, S, S, 3]``, ``proposals [B, P, 4]``, ``proposal_valid [B, P]`` -> ``boxes [B, D, 4]``
    (pixels), ``scores [B, D]``, ``classes [B, D]`` (0-based, -1 padding), ``valid [B, D]``."""
    outputs = self(images, proposals, proposal_valid, train=False)
    decode = functools.partial(detect_from_rois, image_size=(self.image_size,) * 2,
                               score_threshold=self.score_threshold, nms_threshold=self.nms_threshold,
                               max_detections=self.max_detections)
    return jax.vmap(decode)(outputs["class_logits"], outputs["box_deltas"], outputs["rois"], outputs["roi_valid"])
