"""SSD: a single-shot detector predicting classes and box offsets for default boxes on several feature maps.

Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016. A convolutional base is followed by extra layers of
decreasing resolution; every source map gets a 3x3 convolution predicting, per cell and default box,
``num_classes + 1`` scores (index 0 is background) and four offsets (section 2.1). Default boxes have several
aspect ratios and a scale that grows linearly from layer to layer (section 2.2,
``jvision.ops.anchors.ssd_default_boxes``). Offsets are the R-CNN deltas with SSD's "variances" (0.1, 0.2),
i.e. ``encode_boxes`` weights (10, 10, 5, 5), in image units [0, 1].

The base here is a small VGG-like stack sized for 64-128 px images (SSD300 uses VGG-16, see
``experiments/ssd_voc.py``): a stride-2 stem of two 3x3 convolutions, then per further stage 2x2 max pooling and
two 3x3 convolutions, so the first source map has stride ``2 ** len(base_widths)``; extra layers (1x1
reduction, stride-2 3x3) then halve the map down to 1x1.

``SSD.__call__(images) -> {"class_logits": [B, N, C + 1], "box_deltas": [B, N, 4]}``;
``SSD.predict(images)`` decodes them into at most ``max_detections`` boxes per image (per-class top-k, then
class-wise NMS), all with static shapes; ``SSD.default_boxes()`` is the ``[N, 4]`` xyxy [0, 1] prior set.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jvision.models import layers
from jvision.ops import anchors, boxes as box_ops
from jvision.ops.nms import batched_nms, gather_kept
from jvision.ops.pool import max_pool

BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # SSD's variances (0.1, 0.1, 0.2, 0.2) as encode_boxes weights.


def feature_map_sizes(image_size: int, first_stride: int, min_size: int = 1) -> tuple[int, ...]:
  """Sides of the source maps: ``image_size / first_stride``, then halved (rounding up) down to ``min_size``."""
  if image_size % first_stride:
    raise ValueError(f"image_size {image_size} must be a multiple of the first source stride {first_stride}")
  sizes = [image_size // first_stride]
  while sizes[-1] > min_size:
    sizes.append(-(-sizes[-1] // 2))
  return tuple(sizes)


def default_box_sizes(num_layers: int, image_size: int, min_scale: float, max_scale: float):
  """Per-layer ``(min_sizes, max_sizes)`` in pixels: scales linear in the layer index (SSD eq. 4)."""
  scales = np.linspace(min_scale, max_scale, num_layers + 1)
  return tuple(float(s * image_size) for s in scales[:-1]), tuple(float(s * image_size) for s in scales[1:])


def decode_detections(class_logits, box_deltas, default_boxes, image_size: int, *, score_threshold: float = 0.01,
                      iou_threshold: float = 0.45, top_k: int = 100, max_detections: int = 200):
  """SSD outputs of one image -> detections in pixels (static shapes).

  Per foreground class, the ``top_k`` default boxes by softmax probability are candidates; those above
  ``score_threshold`` go through class-wise greedy NMS, keeping at most ``max_detections`` (SSD section 3.1
  "inference": top 200 per image).

  Args:
    class_logits: ``[N, C + 1]``, column 0 is background.
    box_deltas: ``[N, 4]``.
    default_boxes: ``[N, 4]`` xyxy in [0, 1].
    image_size: side of the square image in pixels.

  Returns:
    dict of ``boxes [K, 4]`` xyxy pixels (clipped), ``scores [K]``, ``classes [K]`` int32 (0-based foreground,
    -1 padding), ``valid [K]`` bool, with ``K = max_detections``.
  """
  num_boxes, num_outputs = class_logits.shape
  top_k = min(top_k, num_boxes)
  probabilities = jax.nn.softmax(class_logits.astype(jnp.float32), axis=-1)[:, 1:]  # [N, C]
  decoded = box_ops.decode_boxes(box_deltas.astype(jnp.float32), default_boxes, BOX_WEIGHTS)
  decoded = jnp.clip(decoded, 0.0, 1.0) * image_size
  scores, indices = jax.lax.top_k(probabilities.T, top_k)  # [C, k]
  classes = jnp.broadcast_to(jnp.arange(num_outputs - 1, dtype=jnp.int32)[:, None], scores.shape)
  scores, indices, classes = scores.reshape(-1), indices.reshape(-1), classes.reshape(-1)
  candidates = decoded[indices]
  kept = batched_nms(candidates, scores, classes, iou_threshold, max_detections, score_threshold)
  valid = kept >= 0
  return {"boxes": gather_kept(candidates, kept), "scores": gather_kept(scores, kept),
          "classes": jnp.where(valid, gather_kept(classes, kept), -1), "valid": valid}


class ConvBN(nn.Module):
  """3x3 (or ``kernel``) convolution, batch norm, ReLU: ``[B, H, W, C] -> [B, H / stride, W / stride, F]``."""
  features: int
  stride: int = 1
  kernel: int = 3
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride), padding="SAME",
                use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    x = layers.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype,
                     param_dtype=self.param_dtype)(x)
    return nn.relu(x)


class SSD(nn.Module):
  """Single-shot multibox detector over square ``image_size`` inputs.

  Attributes:
    num_classes: foreground classes (the head predicts one more, background, at index 0).
    image_size: side of the input images (default boxes and pixel outputs depend on it).
    base_widths: channels of the base stages; each halves the resolution (the first by its stride-``stem``
      convolution, the others by max pooling before them).
    extra_width: channels of the extra layers.
    aspect_ratios: extra aspect ratios of every layer (each gives two boxes).
    min_scale, max_scale: default box scale of the first and after the last layer, as fractions of the image.
    score_threshold, iou_threshold, top_k, max_detections: decoding (``decode_detections``).
  """
  num_classes: int
  image_size: int = 96
  base_widths: Sequence[int] = (32, 64, 128)
  extra_width: int = 128
  aspect_ratios: Sequence[float] = (2.0, 3.0)
  min_scale: float = 0.1
  max_scale: float = 0.7
  score_threshold: float = 0.01
  iou_threshold: float = 0.45
  top_k: int = 100
  max_detections: int = 200
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @property
  def feature_sizes(self) -> tuple[int, ...]:
    return feature_map_sizes(self.image_size, 2 ** len(self.base_widths))

  @property
  def boxes_per_cell(self) -> int:
    return 2 + 2 * len(self.aspect_ratios)

  def default_boxes(self):
    """``[N, 4]`` xyxy default boxes in [0, 1], ordered by layer, row, column, box (the head's layout)."""
    sizes = self.feature_sizes
    min_sizes, max_sizes = default_box_sizes(len(sizes), self.image_size, self.min_scale, self.max_scale)
    return anchors.ssd_default_boxes(sizes, self.image_size, min_sizes, max_sizes,
                                     [tuple(self.aspect_ratios)] * len(sizes))

  @nn.compact
  def __call__(self, images, train: bool = False):
    """``images [B, S, S, 3]`` -> ``class_logits [B, N, C + 1]``, ``box_deltas [B, N, 4]`` (float32)."""
    if images.ndim != 4 or images.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"SSD expects images [B, {self.image_size}, {self.image_size}, C], got {images.shape}")
    conv = functools.partial(ConvBN, dtype=self.dtype, param_dtype=self.param_dtype)
    x = images.astype(self.dtype)
    for stage, width in enumerate(self.base_widths):
      if stage == 0:
        x = conv(width, stride=2, name="stem")(x, train)
      else:
        x = max_pool(x, (2, 2), (2, 2), padding="SAME")
        x = conv(width, name=f"stage{stage}_conv1")(x, train)
      x = conv(width, name=f"stage{stage}_conv2" if stage else "stem_conv2")(x, train)
    sources = [x]
    for layer in range(1, len(self.feature_sizes)):
      x = conv(self.extra_width // 2, kernel=1, name=f"extra{layer}_reduce")(x, train)
      x = conv(self.extra_width, stride=2, name=f"extra{layer}")(x, train)
      sources.append(x)
    class_logits, box_deltas = [], []
    per_cell = self.boxes_per_cell
    for layer, source in enumerate(sources):
      if source.shape[1] != self.feature_sizes[layer]:
        raise AssertionError(f"source {layer} is {source.shape[1]}, expected {self.feature_sizes[layer]}")
      head = functools.partial(nn.Conv, kernel_size=(3, 3), padding="SAME", dtype=self.dtype,
                               param_dtype=self.param_dtype)
      logits = head(per_cell * (self.num_classes + 1), name=f"class_head{layer}")(source)
      deltas = head(per_cell * 4, name=f"box_head{layer}")(source)
      class_logits.append(logits.reshape(logits.shape[0], -1, self.num_classes + 1))
      box_deltas.append(deltas.reshape(deltas.shape[0], -1, 4))
    return {"class_logits": jnp.concatenate(class_logits, axis=1).astype(jnp.float32),
            "box_deltas": jnp.concatenate(box_deltas, axis=1).astype(jnp.float32)}

  def predict(self, images):
    """``images [B, S, S, 3]`` -> per image ``boxes [B, K, 4]`` (pixels), ``scores``, ``classes``, ``valid``."""
    outputs = self(images, train=False)
    decode = functools.partial(decode_detections, default_boxes=self.default_boxes(), image_size=self.image_size,
                               score_threshold=self.score_threshold, iou_threshold=self.iou_threshold,
                               top_k=self.top_k, max_detections=self.max_detections)
    return jax.vmap(decode)(outputs["class_logits"], outputs["box_deltas"])
