"""Faster R-CNN: a Region Proposal Network and a Fast R-CNN box head on one shared backbone.

Ren et al., "Faster R-CNN: Towards Real-Time Object Detection with Region Proposal Networks", NeurIPS 2015, in
the layout of torchvision's implementation:

1. A backbone (``jvision.models.detection_backbone``) gives feature maps; with ``fpn=True`` a Feature Pyramid
   Network (Lin et al., CVPR 2017) merges several of them, otherwise the single map ``feature_names[0]`` is used.
2. The RPN head (``jvision.models.rpn``) predicts objectness and deltas for anchors of ``anchor_scales`` x
   ``anchor_ratios`` on every cell (with an FPN, scale ``i`` lives on level ``i``).
3. ``jvision.ops.proposals.generate_proposals``: top-k, decode, clip, small-box removal, NMS, top-k, per image,
   with fixed train/test counts. Proposals carry no gradient (as torchvision; the paper's 4-step alternating
   training is replaced by joint training, its "approximate joint training", section 3.2).
4. In training (ground truth given), ``jvision.ops.sampling.sample_rois`` draws ``roi_samples`` RoIs per image
   (25% foreground at IoU >= 0.5, background below 0.5) from the proposals plus the ground truth.
5. RoIAlign (He et al., Mask R-CNN; on the RoI's pyramid level with an FPN) pools ``roi_output_size`` squares
   that ``jvision.models.roi_heads.BoxHead`` classifies and refines.

``FasterRCNN.__call__(images, gt_boxes=None, gt_labels=None, gt_valid=None, train=False)`` returns a dict:
``rpn_objectness [B, A]``, ``rpn_deltas [B, A, 4]``, ``anchors [A, 4]``, ``proposals [B, P, 4]``,
``proposal_scores [B, P]``, ``proposal_valid [B, P]``, ``rois [B, R, 4]``, ``roi_valid [B, R]``,
``class_logits [B, R, K + 1]``, ``box_deltas [B, R, K, 4]``; with ground truth also ``roi_labels [B, R]`` (0
background, class + 1), ``roi_matched_gt [B, R]`` (-1 unless foreground) and ``roi_target_deltas [B, R, 4]``
(what a mask branch needs to build its targets). Sampling draws from the ``"sampling"`` rng collection. Without
ground truth the RoIs are the proposals. The four losses live in ``jvision.losses.rcnn``.
``FasterRCNN.predict(images)`` returns ``boxes [B, D, 4]`` (pixels), ``scores``, ``classes``, ``valid``.

``mask_head=True`` makes it Mask R-CNN (He et al., ICCV 2017, section 3): ``jvision.models.mask_head.MaskHead``
on RoIAlign ``mask_roi_size`` (14 x 14) features predicts a ``2 * mask_roi_size`` (28 x 28) mask logit per
class. In training it sees the first ``mask_rois_per_image`` sampled RoIs, which hold the foreground ones
(``sample_rois`` puts them first; by default as many slots as foreground RoIs can be drawn), and the outputs
gain ``mask_rois [B, F, 4]``, ``mask_classes [B, F]`` (0-based), ``mask_matched_gt [B, F]``, ``mask_valid
[B, F]`` (foreground) and ``mask_logits [B, F, M, M, K]`` for ``jvision.losses.rcnn.mask_branch_loss``; without
ground truth ``mask_logits [B, R, M, M, K]`` are those of the RoIs. ``predict`` runs the branch on the final
detections and adds ``masks [B, D, M, M]``, the sigmoid of each detection's own-class logits (0 for padding),
to be pasted into the image by ``jvision.ops.masks.paste_masks``. All shapes are static.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.models.detection_backbone import DetectionBackbone, backbone_strides
from jvision.models.fpn import FPN
from jvision.models.mask_head import MaskHead
from jvision.models.roi_heads import BoxHead, detect_from_rois
from jvision.models.rpn import RPNHead, rpn_anchors
from jvision.ops import roi as roi_ops
from jvision.ops.proposals import generate_proposals
from jvision.ops.sampling import sample_rois


class FasterRCNN(nn.Module):
  """Faster R-CNN over square ``image_size`` inputs (see the module docstring).

  Attributes:
    num_classes: foreground classes ``K``.
    image_size: side of the input images.
    backbone, backbone_widths: ``DetectionBackbone`` architecture and (for ``"simple"``) stage widths.
    feature_names: backbone maps used, finest first (one without FPN).
    fpn, fpn_width: use a Feature Pyramid Network over ``feature_names`` and its channels.
    anchor_scales, anchor_ratios: anchor sizes in pixels and height/width ratios.
    rpn_width: channels of the RPN's 3x3 convolution.
    rpn_pre_nms_top_n_train/test, rpn_post_nms_top_n_train/test: proposal counts (per level before NMS).
    rpn_nms_threshold, rpn_min_size: proposal NMS IoU and smallest side.
    roi_output_size, roi_sampling_ratio: RoIAlign output side and samples per bin.
    roi_samples, roi_positive_fraction, fg_iou_threshold, bg_iou_high, bg_iou_low: RoI minibatch sampling.
    fpn_canonical_size, fpn_canonical_level: RoI-to-level assignment (FPN eq. 1).
    head_width: fc6/fc7 width.
    score_threshold, nms_threshold, max_detections: test-time decoding.
    mask_head: add the Mask R-CNN mask branch (see the module docstring).
    mask_roi_size: RoIAlign side of the mask branch (its masks are twice that).
    mask_head_width: channels of the mask branch's convolutions.
    mask_rois_per_image: sampled RoIs per image the mask branch trains on (``F``); None:
      ``int(roi_samples * roi_positive_fraction)``, every foreground RoI.
  """
  num_classes: int
  image_size: int = 128
  backbone: str = "simple"
  backbone_widths: Sequence[int] = (32, 64, 128)
  feature_names: Sequence[str] = ("c3",)
  fpn: bool = False
  fpn_width: int = 128
  anchor_scales: Sequence[float] = (16.0, 32.0, 64.0)
  anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0)
  rpn_width: int = 128
  rpn_pre_nms_top_n_train: int = 1000
  rpn_post_nms_top_n_train: int = 300
  rpn_pre_nms_top_n_test: int = 500
  rpn_post_nms_top_n_test: int = 100
  rpn_nms_threshold: float = 0.7
  rpn_min_size: float = 1.0
  roi_output_size: int = 7
  roi_sampling_ratio: int = 2
  roi_samples: int = 128
  roi_positive_fraction: float = 0.25
  fg_iou_threshold: float = 0.5
  bg_iou_high: float = 0.5
  bg_iou_low: float = 0.0
  fpn_canonical_size: float = 224.0
  fpn_canonical_level: int = 4
  head_width: int = 256
  score_threshold: float = 0.05
  nms_threshold: float = 0.5
  max_detections: int = 100
  mask_head: bool = False
  mask_roi_size: int = 14
  mask_head_width: int = 256
  mask_rois_per_image: Optional[int] = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    if self.num_classes < 1:
      raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
    strides = backbone_strides(self.backbone, self.backbone_widths)
    unknown = [n for n in self.feature_names if n not in strides]
    if unknown or not self.feature_names:
      raise ValueError(f"feature_names {tuple(self.feature_names)} must be maps of the {self.backbone!r} "
                       f"backbone: {', '.join(strides)}")
    if not self.fpn and len(self.feature_names) != 1:
      raise ValueError(f"without fpn, feature_names must name one map, got {tuple(self.feature_names)}")
    if self.fpn and len(self.anchor_scales) != len(self.feature_names):
      raise ValueError(f"with fpn, give one anchor scale per level: {len(self.feature_names)} levels, "
                       f"anchor_scales {tuple(self.anchor_scales)}")
    module_options = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.body = DetectionBackbone(self.backbone, tuple(self.backbone_widths), **module_options)
    if self.fpn:
      self.neck = FPN(self.fpn_width, **module_options)
    scales_per_level = 1 if self.fpn else len(self.anchor_scales)
    self.rpn_head = RPNHead(scales_per_level * len(self.anchor_ratios), self.rpn_width, **module_options)
    self.box_head = BoxHead(self.num_classes, self.head_width, **module_options)
    if self.mask_head:
      if not 1 <= self.num_mask_rois <= self.roi_samples:
        raise ValueError(f"mask_rois_per_image must be in [1, roi_samples={self.roi_samples}], got "
                         f"{self.num_mask_rois}")
      self.mask_branch = MaskHead(self.num_classes, self.mask_head_width, **module_options)

  @property
  def num_mask_rois(self) -> int:
    """``F``, the sampled RoIs per image the mask branch trains on."""
    if self.mask_rois_per_image is not None:
      return self.mask_rois_per_image
    return max(1, int(self.roi_samples * self.roi_positive_fraction))

  @property
  def strides(self) -> tuple[int, ...]:
    """Strides of the maps the RPN and the box head see, finest first."""
    strides = backbone_strides(self.backbone, self.backbone_widths)
    return tuple(strides[name] for name in self.feature_names)

  def feature_maps(self, images, train: bool = False) -> list:
    """``[B, S, S, 3]`` -> the maps of ``strides``."""
    if images.ndim != 4 or images.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"FasterRCNN expects images [B, {self.image_size}, {self.image_size}, C], got "
                       f"{images.shape}")
    features = self.body(images, train)
    maps = [features[name] for name in self.feature_names]
    return self.neck(maps) if self.fpn else maps

  def _pool(self, maps, rois, output_size: int):
    """RoIAlign of ``rois [B, R, 4]`` on ``maps`` -> ``[B, R, s, s, C]`` with ``s = output_size``."""
    scales = [1.0 / s for s in self.strides]
    levels = [int(round(math.log2(s))) for s in self.strides]
    pool_options = dict(output_size=output_size, sampling_ratio=self.roi_sampling_ratio)

    def pool_one(image_maps, boxes):
      indices = jnp.zeros(boxes.shape[:1], jnp.int32)
      if len(image_maps) == 1:
        return roi_ops.roi_align(image_maps[0][None], boxes, indices, spatial_scale=scales[0], **pool_options)
      level = roi_ops.fpn_levels(boxes, levels[0], levels[-1], self.fpn_canonical_size, self.fpn_canonical_level)
      return roi_ops.multilevel_roi_align([m[None] for m in image_maps], boxes, indices,
                                          spatial_scales=scales, levels=level - levels[0], **pool_options)

    return jax.vmap(pool_one)(tuple(maps), rois)

  def _mask_logits(self, maps, rois):
    """The mask branch on ``rois [B, R, 4]`` -> ``[B, R, M, M, K]`` logits."""
    pooled = self._pool(maps, rois, self.mask_roi_size)
    batch, num_rois = rois.shape[:2]
    logits = self.mask_branch(pooled.reshape(batch * num_rois, *pooled.shape[2:]))
    return logits.reshape(batch, num_rois, *logits.shape[1:])

  def __call__(self, images, gt_boxes=None, gt_labels=None, gt_valid=None, train: bool = False) -> dict:
    outputs, maps = self._detect_rois(images, gt_boxes, gt_labels, gt_valid, train)
    if self.mask_head:
      if "roi_labels" in outputs:
        first = slice(0, self.num_mask_rois)  # sample_rois puts the foreground RoIs first.
        labels = outputs["roi_labels"][:, first]
        outputs.update(mask_rois=outputs["rois"][:, first], mask_classes=jnp.maximum(labels - 1, 0),
                       mask_matched_gt=outputs["roi_matched_gt"][:, first],
                       mask_valid=outputs["roi_valid"][:, first] & (labels > 0))
        outputs["mask_logits"] = self._mask_logits(maps, outputs["mask_rois"])
      else:
        outputs["mask_logits"] = self._mask_logits(maps, outputs["rois"])
    return outputs

  def _detect_rois(self, images, gt_boxes, gt_labels, gt_valid, train: bool):
    """The RPN, RoI sampling and the box head -> ``(outputs, feature maps)``."""
    maps = self.feature_maps(images, train)
    objectness, deltas = zip(*[self.rpn_head(m) for m in maps])
    objectness, deltas = jnp.concatenate(objectness, axis=1), jnp.concatenate(deltas, axis=1)
    scales = [[s] for s in self.anchor_scales] if self.fpn else [tuple(self.anchor_scales)]
    anchors, level_sizes = rpn_anchors([m.shape[1:3] for m in maps], self.strides, scales, self.anchor_ratios)
    top_n = ((self.rpn_pre_nms_top_n_train, self.rpn_post_nms_top_n_train) if train else
             (self.rpn_pre_nms_top_n_test, self.rpn_post_nms_top_n_test))
    propose = functools.partial(generate_proposals, anchors=anchors, image_size=(self.image_size,) * 2,
                                pre_nms_top_n=top_n[0], post_nms_top_n=top_n[1],
                                nms_threshold=self.rpn_nms_threshold, min_size=self.rpn_min_size,
                                level_sizes=level_sizes)
    proposals = jax.vmap(propose)(jax.lax.stop_gradient(objectness), jax.lax.stop_gradient(deltas))
    outputs = {"rpn_objectness": objectness, "rpn_deltas": deltas, "anchors": anchors,
               "proposals": proposals["boxes"], "proposal_scores": proposals["scores"],
               "proposal_valid": proposals["valid"]}
    if gt_boxes is not None:
      if gt_labels is None or gt_valid is None:
        raise ValueError("gt_boxes needs gt_labels and gt_valid")
      sample = functools.partial(sample_rois, num_samples=self.roi_samples,
                                 positive_fraction=self.roi_positive_fraction,
                                 fg_iou_threshold=self.fg_iou_threshold, bg_iou_high=self.bg_iou_high,
                                 bg_iou_low=self.bg_iou_low)
      rngs = jax.random.split(self.make_rng("sampling"), images.shape[0])
      sampled = jax.vmap(sample)(proposals["boxes"], proposals["valid"], gt_boxes.astype(jnp.float32),
                                 gt_labels, gt_valid, rngs)
      rois, roi_valid = sampled["boxes"], sampled["valid"]
      outputs.update(roi_labels=sampled["labels"], roi_matched_gt=sampled["matched_gt"],
                     roi_target_deltas=sampled["target_deltas"])
    else:
      rois, roi_valid = proposals["boxes"], proposals["valid"]
    pooled = self._pool(maps, rois, self.roi_output_size)
    batch, num_rois = rois.shape[:2]
    class_logits, box_deltas = self.box_head(pooled.reshape(batch * num_rois, *pooled.shape[2:]))
    outputs.update(rois=rois, roi_valid=roi_valid, class_logits=class_logits.reshape(batch, num_rois, -1),
                   box_deltas=box_deltas.reshape(batch, num_rois, self.num_classes, 4))
    return outputs, maps

  def predict(self, images) -> dict:
    """``images [B, S, S, 3]`` -> ``boxes [B, D, 4]`` (pixels), ``scores [B, D]``, ``classes [B, D]`` (0-based,
    -1 padding), ``valid [B, D]``; with the mask branch also ``masks [B, D, M, M]`` probabilities."""
    outputs, maps = self._detect_rois(images, None, None, None, train=False)
    decode = functools.partial(detect_from_rois, image_size=(self.image_size,) * 2,
                               score_threshold=self.score_threshold, nms_threshold=self.nms_threshold,
                               max_detections=self.max_detections)
    detections = jax.vmap(decode)(outputs["class_logits"], outputs["box_deltas"], outputs["rois"],
                                  outputs["roi_valid"])
    if self.mask_head:
      logits = self._mask_logits(maps, jax.lax.stop_gradient(detections["boxes"]))
      own_class = jnp.maximum(detections["classes"], 0)[:, :, None, None, None]
      probabilities = jax.nn.sigmoid(jnp.take_along_axis(logits, own_class, axis=-1)[..., 0])
      detections["masks"] = jnp.where(detections["valid"][:, :, None, None], probabilities, 0.0)
    return detections
