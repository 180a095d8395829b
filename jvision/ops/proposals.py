"""Region proposals for two-stage detectors: RPN decoding on the device, a jittered-ground-truth stand-in on the
host.

``generate_proposals`` turns one image's RPN outputs into a fixed number of proposals (Faster R-CNN, Ren et al.
2015, section 3.3; the order of torchvision's RegionProposalNetwork): the ``pre_nms_top_n`` anchors with the
highest objectness (per pyramid level when there are several), decoded with (1, 1, 1, 1) weights, clipped to
the image, boxes with a side under ``min_size`` dropped, NMS at ``nms_threshold`` (per level), and the
``post_nms_top_n`` best kept, padded and masked.

``jittered_gt_proposals`` is NOT a proposal method: it makes Fast R-CNN trainable and testable before a real
proposal source (selective search) is available, by perturbing the ground-truth boxes and adding random
boxes. Its evaluation numbers use the ground truth and say nothing about a detector in the wild.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jvision.ops import boxes as box_ops
from jvision.ops.nms import batched_nms, gather_kept


def generate_proposals(objectness, deltas, anchors, image_size: Sequence[int], *, pre_nms_top_n: int,
                       post_nms_top_n: int, nms_threshold: float = 0.7, min_size: float = 1e-3,
                       level_sizes: Sequence[int] | None = None):
  """Proposals of one image from RPN outputs.

  Args:
    objectness: ``[A]`` logits.
    deltas: ``[A, 4]`` box deltas relative to the anchors.
    anchors: ``[A, 4]`` xyxy pixels.
    image_size: ``(height, width)`` to clip to.
    pre_nms_top_n: candidates kept per level before NMS (static).
    post_nms_top_n: proposals returned (static).
    nms_threshold: IoU above which a lower-scoring proposal of the same level is suppressed.
    min_size: proposals with a side under it (pixels) are dropped.
    level_sizes: anchors per pyramid level, in the order of the anchors (default: one level).

  Returns:
    ``boxes [post_nms_top_n, 4]`` (0 for padding), ``scores [post_nms_top_n]`` (objectness probability, 0 for
    padding), ``valid [post_nms_top_n]`` bool.
  """
  objectness = jnp.asarray(objectness, jnp.float32)
  num_anchors = anchors.shape[0]
  if objectness.shape != (num_anchors,) or deltas.shape != (num_anchors, 4):
    raise ValueError(f"objectness [A] and deltas [A, 4] must match anchors [{num_anchors}, 4], got "
                     f"{objectness.shape} and {deltas.shape}")
  level_sizes = (num_anchors,) if level_sizes is None else tuple(int(s) for s in level_sizes)
  if sum(level_sizes) != num_anchors:
    raise ValueError(f"level_sizes {level_sizes} do not add up to the {num_anchors} anchors")
  candidates, levels, start = [], [], 0
  for level, size in enumerate(level_sizes):
    k = min(pre_nms_top_n, size)
    _, top = jax.lax.top_k(objectness[start:start + size], k)
    candidates.append(top + start)
    levels.append(jnp.full((k,), level, jnp.int32))
    start += size
  candidates, levels = jnp.concatenate(candidates), jnp.concatenate(levels)
  boxes = box_ops.decode_boxes(deltas[candidates].astype(jnp.float32), anchors[candidates])
  boxes = box_ops.clip_boxes(boxes, image_size)
  scores = objectness[candidates]
  large = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
  scores = jnp.where(large & jnp.isfinite(scores), scores, -jnp.inf)
  kept = batched_nms(boxes, scores, levels, nms_threshold, post_nms_top_n)
  valid = kept >= 0
  return {"boxes": gather_kept(boxes, kept), "scores": jnp.where(valid, jax.nn.sigmoid(gather_kept(scores, kept)),
                                                                 0.0), "valid": valid}


def jittered_gt_proposals(gt_boxes: np.ndarray, gt_valid: np.ndarray, num_proposals: int, image_size: int,
                          rng: np.random.Generator, per_object: int = 16, jitter: float = 0.25) -> dict:
  """A STAND-IN for real proposals (host side, numpy): perturbed ground truth plus random boxes.

  Each valid ground-truth box gets ``per_object`` copies whose centre moves by up to ``jitter`` of its size
  and whose sides scale by up to ``exp(+-2 * jitter)``; the remaining slots are random boxes of 8 px to the
  whole image. The proposals mix high-, medium- and low-IoU boxes the way a proposal method would, without
  one.

  Args:
    gt_boxes: ``[G, 4]`` xyxy pixels; gt_valid ``[G]`` bool.
    num_proposals: ``P``, the fixed number returned.
    image_size: side of the square image.

  Returns:
    dict of ``proposals`` float32 ``[P, 4]`` (clipped, at least 1 px a side) and ``proposal_valid`` bool
    ``[P]`` (all True).
  """
  gt = np.asarray(gt_boxes, np.float32)[np.asarray(gt_valid, bool)]
  jittered = np.zeros((0, 4), np.float32)
  if len(gt):
    base = np.repeat(gt, per_object, axis=0)
    size = np.maximum(base[:, 2:] - base[:, :2], 1.0)
    centre = (base[:, :2] + base[:, 2:]) / 2 + rng.uniform(-jitter, jitter, size.shape) * size
    size = size * np.exp(rng.uniform(-2 * jitter, 2 * jitter, size.shape))
    jittered = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    jittered = jittered[rng.permutation(len(jittered))][:num_proposals]
  num_random = num_proposals - len(jittered)
  size = rng.uniform(8, image_size, (num_random, 2))
  corner = rng.uniform(0, 1, (num_random, 2)) * (image_size - size)
  random_boxes = np.concatenate([corner, corner + size], axis=1)
  proposals = np.concatenate([jittered, random_boxes]).astype(np.float32)
  proposals = np.clip(proposals, 0, image_size)
  proposals[:, 2:] = np.maximum(proposals[:, 2:], np.minimum(proposals[:, :2] + 1, image_size))
  proposals[:, :2] = np.minimum(proposals[:, :2], proposals[:, 2:] - 1)
  return {"proposals": proposals, "proposal_valid": np.ones(num_proposals, bool)}
