"""OverFeat localization: a fully convolutional classifier and box regressor applied densely at several scales,
with the greedy merge of the window predictions.

Sermanet et al., "OverFeat: Integrated Recognition, Localization and Detection using Convolutional Networks",
ICLR 2014. The "dense" layers of the classifier are convolutions (the first one spans the whole
``window_size / stride`` feature map of a training window, the others are 1x1), so on a larger image the same
network evaluates every window at stride ``stride`` in one pass (section 3.5). A regression head of 1x1
convolutions on the same features predicts, per class, the box of the object in window coordinates (section
4.2). At test time (section 4.3) the image is resized to several ``scales``; every window gives class
probabilities and the box of its most likely classes; boxes of the same class are merged greedily
(``greedy_merge``) and the merged box with the highest accumulated class score is the prediction.

Differences from the paper: a small convolutional feature extractor instead of the ImageNet one; the
classifier and regressor are trained jointly (``jvision.losses.detection.overfeat_loss``); the match score of
two boxes is ``(1 - IoU) + centre distance / mean box side`` (the paper combines centre distance and
intersection area without giving units) and merged boxes are score-weighted averages.

``OverFeat.__call__(images [B, H, W, 3]) -> {"class_logits": [B, h, w, C (+1 with background)], "boxes":
[B, h, w, C, 4]}`` (boxes as fractions of each window, xyxy); at ``H = W = window_size``, ``h = w = 1``.
``OverFeat.predict(images)`` runs the multi-scale inference on ``[B, S, S, 3]`` images and returns one box per image in pixels of ``images``.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jvision.models import layers
from jvision.ops import boxes as box_ops
from jvision.ops.pool import max_pool


def match_scores(boxes):
  """``[N, 4]`` xyxy -> ``[N, N]`` merge distances: ``1 - IoU + |centre_i - centre_j| / mean side``."""
  iou = box_ops.box_iou(boxes, boxes)
  centres = (boxes[:, :2] + boxes[:, 2:]) / 2
  sides = jnp.maximum(jnp.mean(boxes[:, 2:] - boxes[:, :2], axis=1), 1e-6)
  distance = jnp.linalg.norm(centres[:, None] - centres[None], axis=-1)
  return (1.0 - iou) + distance / ((sides[:, None] + sides[None]) / 2)


def greedy_merge(boxes, scores, classes, threshold: float):
  """OverFeat's greedy merge (section 4.3) with static shapes.

  Repeatedly takes the two active boxes of the same class with the lowest ``match_scores`` and, while it is
  below ``threshold``, replaces the first by their score-weighted average (its score becomes the sum) and
  deactivates the second.

  Args:
    boxes: ``[N, 4]`` xyxy; scores ``[N]`` (>= 0); classes ``[N]`` ints.
    threshold: merge while the best match score is below it.

  Returns:
    ``(boxes [N, 4], scores [N], active [N] bool)`` after merging; inactive rows were merged away.
  """
  num_boxes = boxes.shape[0]
  same_class = (classes[:, None] == classes[None]) & ~jnp.eye(num_boxes, dtype=bool)

  def body(_, state):
    boxes, scores, active = state
    allowed = same_class & active[:, None] & active[None]
    match = jnp.where(allowed, match_scores(boxes), jnp.inf)
    flat = jnp.argmin(match)
    i, j = jnp.minimum(flat // num_boxes, flat % num_boxes), jnp.maximum(flat // num_boxes, flat % num_boxes)
    merge = match.reshape(-1)[flat] < threshold
    total = scores[i] + scores[j]
    merged = (boxes[i] * scores[i] + boxes[j] * scores[j]) / jnp.maximum(total, 1e-12)
    boxes = jnp.where(merge, boxes.at[i].set(merged), boxes)
    scores = jnp.where(merge, scores.at[i].set(total).at[j].set(0.0), scores)
    active = jnp.where(merge, active.at[j].set(False), active)
    return boxes, scores, active

  return jax.lax.fori_loop(0, max(num_boxes - 1, 0), body, (boxes, scores, jnp.ones((num_boxes,), bool)))


class OverFeat(nn.Module):
  """Fully convolutional classifier + class-specific box regressor.

  Attributes:
    num_classes: object classes.
    window_size: side of a training window (the image size the network sees in training).
    widths: channels of the feature stages; each halves the resolution (stride ``2 ** len(widths)``).
    dense_width: channels of the convolutional "fully connected" layers.
    scales: image sides for multi-scale inference (each a multiple of the stride and >= ``window_size``).
    top_classes: classes per scale whose boxes enter the merge (the paper's top-k).
    merge_threshold: ``greedy_merge`` threshold.
    windows_per_scale: if > 0, only the best this many window predictions of each scale (by class
      probability) enter the merge, which is cubic in their number: more, larger scales stay affordable.
      0 merges every window (the paper).
    dropout_rate: dropout before the dense layers in training.
    background: the classifier has one more output, "no object" (the last), trained on windows that hold
      none (``LocalizationTask(background_fraction=...)``); inference scores windows by their object-class
      probabilities, so background windows add little to a merged box.
  """
  num_classes: int
  window_size: int = 64
  widths: Sequence[int] = (16, 32, 64, 128)
  dense_width: int = 256
  scales: Sequence[int] = (64, 80, 96)
  top_classes: int = 1
  merge_threshold: float = 1.0
  windows_per_scale: int = 0
  dropout_rate: float = 0.3
  background: bool = False
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @property
  def stride(self) -> int:
    return 2 ** len(self.widths)

  @nn.compact
  def __call__(self, images, train: bool = False):
    """``images [B, H, W, 3]`` (H, W >= window_size, multiples of the stride) -> per-window class logits
    ``[B, h, w, C]`` and boxes ``[B, h, w, C, 4]`` as fractions of the window."""
    if images.ndim != 4 or min(images.shape[1:3]) < self.window_size:
      raise ValueError(f"OverFeat expects images [B, H, W, C] with H, W >= {self.window_size}, "
                       f"got {images.shape}")
    if self.window_size % self.stride or images.shape[1] % self.stride or images.shape[2] % self.stride:
      raise ValueError(f"window_size and image sides must be multiples of the stride {self.stride}, got "
                       f"{self.window_size} and {images.shape[1:3]}")
    conv = functools.partial(nn.Conv, dtype=self.dtype, param_dtype=self.param_dtype)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train, momentum=0.9, dtype=self.dtype,
                             param_dtype=self.param_dtype)
    x = images.astype(self.dtype)
    for stage, width in enumerate(self.widths):
      x = nn.relu(norm(name=f"stage{stage}_bn1")(conv(width, (3, 3), padding="SAME", use_bias=False,
                                                        name=f"stage{stage}_conv1")(x)))
      x = nn.relu(norm(name=f"stage{stage}_bn2")(conv(width, (3, 3), padding="SAME", use_bias=False,
                                                        name=f"stage{stage}_conv2")(x)))
      x = max_pool(x, (2, 2), (2, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    span = self.window_size // self.stride
    # The first "fully connected" layer as a span x span VALID convolution: one output per window.
    features = nn.relu(conv(self.dense_width, (span, span), padding="VALID", name="dense1")(x))
    classifier = nn.relu(conv(self.dense_width, (1, 1), name="dense2")(features))
    class_logits = conv(self.num_classes + int(self.background), (1, 1), name="classifier")(classifier)
    regressor = nn.relu(conv(self.dense_width, (1, 1), name="regressor_dense")(features))
    boxes = conv(self.num_classes * 4, (1, 1), name="regressor")(regressor)
    boxes = boxes.reshape(boxes.shape[:3] + (self.num_classes, 4))
    return {"class_logits": class_logits.astype(jnp.float32), "boxes": boxes.astype(jnp.float32)}

  def window_predictions(self, images, scale: int):
    """All windows of ``images [B, S, S, 3]`` resized to ``scale``: boxes in pixels of ``images``.

    Returns ``(probabilities [B, n, C], boxes [B, n, C, 4])`` with ``n`` the windows at this scale.
    """
    batch, size = images.shape[0], images.shape[1]
    resized = jax.image.resize(images, (batch, scale, scale, images.shape[3]), "linear", antialias=False)
    outputs = self(resized, train=False)
    rows, cols = outputs["class_logits"].shape[1:3]
    offset_y = jnp.arange(rows, dtype=jnp.float32)[:, None] * self.stride
    offset_x = jnp.arange(cols, dtype=jnp.float32)[None, :] * self.stride
    offsets = jnp.stack(jnp.broadcast_arrays(offset_x, offset_y, offset_x, offset_y), -1)  # [h, w, 4]
    boxes = (outputs["boxes"] * self.window_size + offsets[:, :, None, :]) * (size / scale)
    probabilities = jax.nn.softmax(outputs["class_logits"], axis=-1)[..., :self.num_classes]
    return (probabilities.reshape(batch, rows * cols, self.num_classes),
            boxes.reshape(batch, rows * cols, self.num_classes, 4))

  def predict(self, images):
    """Multi-scale inference on square ``images [B, S, S, 3]``.

    Returns dict of ``boxes [B, 1, 4]`` (xyxy pixels of ``images``, clipped), ``scores [B, 1]`` (the merged
    box's accumulated class probability over the number of windows), ``classes [B, 1]`` int32 and ``valid
    [B, 1]``.
    """
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
      raise ValueError(f"predict expects square images [B, S, S, C], got {images.shape}")
    if self.windows_per_scale < 0:
      raise ValueError(f"windows_per_scale must be >= 0 (0: all windows); got {self.windows_per_scale}")
    candidate_boxes, candidate_scores, candidate_classes = [], [], []
    num_windows = 0
    for scale in self.scales:
      probabilities, boxes = self.window_predictions(images, scale)
      # The paper's per-scale top-k classes, ranked by their best window.
      _, top = jax.lax.top_k(probabilities.max(axis=1), self.top_classes)  # [B, k]
      picked_boxes = jnp.take_along_axis(boxes, top[:, None, :, None], axis=2)  # [B, n, k, 4]
      picked_scores = jnp.take_along_axis(probabilities, top[:, None, :], axis=2)  # [B, n, k]
      classes = jnp.broadcast_to(top[:, None, :], picked_scores.shape)
      num_windows += probabilities.shape[1]
      picked_boxes = picked_boxes.reshape(images.shape[0], -1, 4)
      picked_scores = picked_scores.reshape(images.shape[0], -1)
      classes = classes.reshape(images.shape[0], -1)
      if 0 < self.windows_per_scale < picked_scores.shape[1]:
        picked_scores, keep = jax.lax.top_k(picked_scores, self.windows_per_scale)
        picked_boxes = jnp.take_along_axis(picked_boxes, keep[..., None], axis=1)
        classes = jnp.take_along_axis(classes, keep, axis=1)
      candidate_boxes.append(picked_boxes)
      candidate_scores.append(picked_scores)
      candidate_classes.append(classes)
    boxes = jnp.concatenate(candidate_boxes, axis=1)
    scores = jnp.concatenate(candidate_scores, axis=1)
    classes = jnp.concatenate(candidate_classes, axis=1).astype(jnp.int32)
    merged_boxes, merged_scores, _ = jax.vmap(
        lambda b, s, c: greedy_merge(b, s, c, self.merge_threshold))(boxes, scores, classes)
    best = jnp.argmax(merged_scores, axis=1)
    take = lambda values: jnp.take_along_axis(values, best[:, None], axis=1)
    size = images.shape[1]
    return {"boxes": jnp.clip(jnp.take_along_axis(merged_boxes, best[:, None, None], axis=1), 0.0, size),
            "scores": take(merged_scores) / num_windows, "classes": take(classes),
            "valid": jnp.ones((images.shape[0], 1), bool)}
