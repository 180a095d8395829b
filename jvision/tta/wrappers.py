"""Wrap a prediction function with test-time augmentation: classification, segmentation, keypoints, detection.

``apply_fn(variables, images)`` is the model's inference function (e.g. ``lambda v, x: model.apply(v, x)``).
A wrapper is called as ``wrapper(variables, images)``; it is one ``jax.jit``-compiled call in which the
augmentations that keep the image shape run as one ``jax.vmap`` over the augmentation axis (one model call
on ``A`` stacked batches), and each image size (Scale, Resize) is one more such call inside the same jit.
``wrapper.augmented(variables, images)`` returns the de-augmented predictions before merging, ``[A, ...]``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from jvision import compilation
from jvision.tta import box_fusion, merge_modes as merging
from jvision.tta.transforms import Compose, Transform


def _as_compose(transform) -> Compose:
  if isinstance(transform, Compose):
    return transform
  if isinstance(transform, Transform):
    return Compose([transform])
  raise TypeError(f"expected a tta Transform or Compose; got {type(transform).__name__}")


def run_augmented(compose: Compose, apply_fn: Callable, variables: Any, images: jnp.ndarray,
                  deaugment: Callable[[Transform, Any, Any], Any]) -> Any:
  """Predictions for every augmentation, each mapped back by ``deaugment(t, y, p)``; leaves ``[A, ...]``."""
  if images.ndim != 4:
    raise ValueError(f"TTA expects images [B, H, W, C]; got shape {tuple(images.shape)}")
  outputs = []
  for static_params, traced in compose.groups():
    def one(traced_params, static_params=static_params):
      params = compose.split(static_params, traced_params)
      x = images
      for t, p in zip(compose.transforms, params):
        x = t.augment_image(x, p)
      y = apply_fn(variables, x)
      for t, p in reversed(list(zip(compose.transforms, params))):
        y = deaugment(t, y, p)
      return y
    num_traced = len(traced[0])
    if num_traced == 0:
      outputs.append(jax.tree.map(lambda y: y[None], one(())))
    else:
      stacked = tuple(jnp.asarray([combo[i] for combo in traced]) for i in range(num_traced))
      outputs.append(jax.vmap(one)(stacked))
  return jax.tree.map(lambda *ys: jnp.concatenate(ys, axis=0), *outputs)


class _Wrapper:
  """Shared plumbing: jit of ``augmented`` and of the merged call."""
  kind = "labels"

  def __init__(self, apply_fn: Callable, transform, merge_mode: str = "mean"):
    if merge_mode not in self.merge_modes():
      raise ValueError(f"unknown merge mode {merge_mode!r}; known: {', '.join(self.merge_modes())}")
    self.apply_fn = apply_fn
    self.transform = _as_compose(transform)
    if self.kind != "labels":
      self.transform.require(self.kind)
    self.merge_mode = merge_mode
    self.augmented = compilation.jit(self._augmented)
    self._call = compilation.jit(self._merged)

  def merge_modes(self):
    return merging.MERGE_MODES

  def _augmented(self, variables, images):
    raise NotImplementedError

  def _merged(self, variables, images):
    return merging.merge(self._augmented(variables, images), self.merge_mode)

  def __call__(self, variables, images):
    return self._call(variables, images)


class ClassificationTTA(_Wrapper):
  """``apply_fn -> [B, K]`` logits; merged ``[B, K]`` (``jvision.tta.merge_modes`` gives each mode's domain)."""

  def _augmented(self, variables, images):
    return run_augmented(self.transform, self.apply_fn, variables, images, lambda t, y, p: y)


class SegmentationTTA(_Wrapper):
  """``apply_fn -> [B, h, w, K]`` mask logits; de-augmented to the identity's ``h, w`` and merged."""
  kind = "masks"

  def _augmented(self, variables, images):
    size = jax.eval_shape(self.apply_fn, variables, images).shape[1:3]
    return run_augmented(self.transform, self.apply_fn, variables, images,
                         lambda t, y, p: t.deaugment_mask(y, p, size))


class KeypointsTTA(_Wrapper):
  """``apply_fn -> [B, K, 2]`` (x, y) in [0, 1]; de-augmented and merged (``mean`` is the usual choice)."""
  kind = "keypoints"

  def merge_modes(self):
    return ("mean", "max", "min", "sum")

  def _augmented(self, variables, images):
    return run_augmented(self.transform, self.apply_fn, variables, images,
                         lambda t, y, p: t.deaugment_keypoints(y, p))


class DetectionTTA(_Wrapper):
  """Detection under TTA, beyond ttach: boxes are de-augmented, then merged per image.

  ``apply_fn -> (boxes [B, N, 4] (x1, y1, x2, y2) in [0, 1], scores [B, N], classes [B, N] int, -1 = none)``.
  The ``A`` predictions are pooled to ``A * N`` candidates per image and merged by ``'wbf'`` (weighted box
  fusion) or ``'nms'`` (class-aware, through ``nms_fn`` with the ``jvision.ops.nms`` signature). Returns
  ``(boxes [B, M, 4], scores [B, M], classes [B, M])`` with ``M = A * N`` (WBF) or ``max_output_size`` (NMS).
  """
  kind = "boxes"

  def __init__(self, apply_fn: Callable, transform, merge_mode: str = "wbf", nms_fn: Optional[Callable] = None,
               iou_threshold: float = 0.55, score_threshold: float = 0.0, max_output_size: int = 100):
    if merge_mode == "nms" and nms_fn is None:
      raise ValueError("merge_mode='nms' needs nms_fn, e.g. jvision.ops.nms.nms")
    self.nms_fn = nms_fn
    self.iou_threshold = iou_threshold
    self.score_threshold = score_threshold
    self.max_output_size = max_output_size
    super().__init__(apply_fn, transform, merge_mode)

  def merge_modes(self):
    return ("wbf", "nms")

  def _augmented(self, variables, images):
    def deaugment(t, y, p):
      boxes, scores, classes = y
      return t.deaugment_boxes(boxes, p), scores, classes
    return run_augmented(self.transform, self.apply_fn, variables, images, deaugment)

  def _merged(self, variables, images):
    boxes, scores, classes = self._augmented(variables, images)  # [A, B, N, ...]
    a, b, n = scores.shape
    pool = lambda x: jnp.moveaxis(x, 0, 1).reshape(b, a * n, *x.shape[3:])
    boxes, scores, classes = pool(boxes), pool(scores), pool(classes)
    if self.merge_mode == "wbf":
      fuse = lambda bx, s, c: box_fusion.weighted_boxes_fusion(bx, s, c, a, self.iou_threshold,
                                                              self.score_threshold)
    else:
      fuse = lambda bx, s, c: box_fusion.class_aware_nms(bx, s, c, self.nms_fn, self.iou_threshold,
                                                        self.max_output_size, self.score_threshold)
    return jax.vmap(fuse)(boxes, scores, classes)
