"""YOLO v1: one network pass predicts, for each cell of an S x S grid, B boxes with confidences and C class
probabilities.

Redmon et al., "You Only Look Once: Unified, Real-Time Object Detection", CVPR 2016, section 2. The cell that
contains an object's centre is responsible for it; each of its B predictors outputs ``(x, y, sqrt(w),
sqrt(h), confidence)`` with ``(x, y)`` the centre offset inside the cell and ``w, h`` relative to the image
(``jvision.ops.anchors.yolo_encode_boxes``); the confidence is trained towards the IoU of the box with the
ground truth, and a detection's score is ``confidence * P(class | object)`` (eq. 1).

Differences from the paper, for small CPU-sized experiments: the backbone is a small convolutional stack
(``base_widths`` stages halving the resolution, then ``head_convs`` dilated 3x3 convolutions for context)
instead of the 24-layer network, the head is a 1x1 convolution over the grid instead of fully connected
layers, and outputs are activated (sigmoid on the box and confidence, softmax on the classes) so that the
sum-squared loss (``jvision.losses.detection.yolo_loss``) compares bounded quantities.

``YOLO.__call__(images) -> [B, S, S, num_boxes * 5 + C]``; ``YOLO.predict(images)`` decodes with class-wise
NMS into ``max_detections`` slots per image (static shapes).
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.models import layers
from jvision.ops import anchors
from jvision.ops.nms import batched_nms, gather_kept
from jvision.ops.pool import max_pool


def decode_detections(predictions, num_boxes: int, image_size: int, *, score_threshold: float = 0.005,
                      iou_threshold: float = 0.5, top_k: int = 300, max_detections: int = 100):
  """YOLO outputs of one image -> detections in pixels.

  Every (cell, predictor, class) is a candidate scored ``confidence * class probability``; the ``top_k``
  best above ``score_threshold`` go through class-wise greedy NMS.

  Args:
    predictions: ``[S, S, num_boxes * 5 + C]`` activated outputs.
    num_boxes: predictors per cell.
    image_size: side of the square image in pixels.

  Returns:
    dict of ``boxes [K, 4]`` xyxy pixels (clipped), ``scores [K]``, ``classes [K]`` int32 (-1 padding), ``valid
    [K]`` bool, with ``K = max_detections``.
  """
  rows, cols, channels = predictions.shape
  num_classes = channels - 5 * num_boxes
  boxes = predictions[..., :5 * num_boxes].reshape(rows, cols, num_boxes, 5).astype(jnp.float32)
  decoded = anchors.yolo_decode_boxes(boxes[..., :4], (rows, cols), image_size)
  decoded = jnp.clip(decoded, 0.0, image_size).reshape(-1, 4)
  class_probabilities = predictions[..., 5 * num_boxes:].astype(jnp.float32)
  scores = boxes[..., 4:5] * class_probabilities[:, :, None, :]  # [S, S, B, C]
  scores = scores.reshape(-1, num_classes)
  flat_scores = scores.reshape(-1)
  top_k = min(top_k, flat_scores.shape[0])
  top_scores, top_indices = jax.lax.top_k(flat_scores, top_k)
  candidates = decoded[top_indices // num_classes]
  classes = (top_indices % num_classes).astype(jnp.int32)
  kept = batched_nms(candidates, top_scores, classes, iou_threshold, max_detections, score_threshold)
  valid = kept >= 0
  return {"boxes": gather_kept(candidates, kept), "scores": gather_kept(top_scores, kept),
          "classes": jnp.where(valid, gather_kept(classes, kept), -1), "valid": valid}


class YOLO(nn.Module):
  """YOLO v1 detector over square ``image_size`` inputs; the grid side is ``image_size / 2 ** len(base_widths)``.

  Attributes:
    num_classes: object classes (no background class).
    image_size: input side in pixels.
    num_boxes: predictors per cell (B).
    base_widths: channels of the stages (the first has a stride-2 stem, the others start with 2x2 max pooling).
    head_width, head_convs: dilated 3x3 convolutions on the grid before the 1x1 output convolution.
    score_threshold, iou_threshold, top_k, max_detections: decoding (``decode_detections``).
  """
  num_classes: int
  image_size: int = 96
  num_boxes: int = 2
  base_widths: Sequence[int] = (16, 32, 64)
  head_width: int = 128
  head_convs: int = 2
  score_threshold: float = 0.005
  iou_threshold: float = 0.5
  top_k: int = 300
  max_detections: int = 100
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @property
  def grid_size(self) -> int:
    stride = 2 ** len(self.base_widths)
    if self.image_size % stride:
      raise ValueError(f"image_size {self.image_size} must be a multiple of the grid stride {stride}")
    return self.image_size // stride

  def predictors_per_cell(self) -> int:
    return self.num_boxes

  def _conv_bn(self, x, features: int, train: bool, name: str, stride: int = 1, dilation: int = 1):
    x = nn.Conv(features, (3, 3), (stride, stride), padding="SAME", kernel_dilation=(dilation, dilation),
                use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype, name=name)(x)
    x = layers.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype, param_dtype=self.param_dtype,
                     name=f"{name}_bn")(x)
    return nn.leaky_relu(x, 0.1)  # The paper's leaky rectifier.

  @nn.compact
  def __call__(self, images, train: bool = False):
    """``images [B, S_img, S_img, 3]`` -> ``[B, S, S, num_boxes * 5 + num_classes]`` float32, activated."""
    if images.ndim != 4 or images.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"YOLO expects images [B, {self.image_size}, {self.image_size}, C], got {images.shape}")
    x = images.astype(self.dtype)
    for stage, width in enumerate(self.base_widths):
      if stage:
        x = max_pool(x, (2, 2), (2, 2))
      x = self._conv_bn(x, width, train, f"stage{stage}_conv1", stride=2 if stage == 0 else 1)
      x = self._conv_bn(x, width, train, f"stage{stage}_conv2")
    for layer in range(self.head_convs):
      x = self._conv_bn(x, self.head_width, train, f"head_conv{layer}", dilation=2)
    raw = nn.Conv(self.num_boxes * 5 + self.num_classes, (1, 1), dtype=self.dtype, param_dtype=self.param_dtype,
                  name="output")(x).astype(jnp.float32)
    boxes = jax.nn.sigmoid(raw[..., :5 * self.num_boxes])
    class_probabilities = jax.nn.softmax(raw[..., 5 * self.num_boxes:], axis=-1)
    return jnp.concatenate([boxes, class_probabilities], axis=-1)

  def predict(self, images):
    """``images`` -> per image ``boxes [B, K, 4]`` (pixels), ``scores``, ``classes``, ``valid``."""
    decode = functools.partial(decode_detections, num_boxes=self.num_boxes, image_size=self.image_size,
                               score_threshold=self.score_threshold, iou_threshold=self.iou_threshold,
                               top_k=self.top_k, max_detections=self.max_detections)
    return jax.vmap(decode)(self(images, train=False))
