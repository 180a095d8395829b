"""The mask loss of Mask R-CNN (He et al., "Mask R-CNN", ICCV 2017, section 3, eq. "L_mask").

The mask branch predicts one ``M x M`` mask per class; the loss of a positive RoI is the average per-pixel
binary cross-entropy of the channel of its own ground-truth class only (no competition between classes), and
RoIs that are not positive contribute nothing. The value is the mean over all pixels of all positive RoIs, as
torchvision's ``maskrcnn_loss`` and Detectron2's ``mask_rcnn_loss``; with no positive RoI it is 0 (not NaN),
so a batch without foreground still gives a finite loss and zero gradient.

Targets come from ``jvision.ops.masks.mask_targets``. Use ``jax.vmap`` over images or flatten the RoIs of a
batch (the mean over positives of a flattened batch is the usual choice).
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def mask_rcnn_loss(mask_logits, targets, labels, valid):
  """Mean binary cross-entropy of each positive RoI's own-class mask logits.

  Args:
    mask_logits: ``[R, M, M, K]`` per-class mask logits (channels last).
    targets: ``[R, M, M]`` targets in [0, 1] (0/1, or soft).
    labels: ``[R]`` int class of each RoI in ``[0, K)`` (0-based foreground classes); ignored where not
      ``valid``, clamped to ``[0, K)`` otherwise.
    valid: ``[R]`` bool, the positive RoIs.

  Returns:
    scalar float32.
  """
  mask_logits, targets = jnp.asarray(mask_logits), jnp.asarray(targets)
  labels, valid = jnp.asarray(labels), jnp.asarray(valid, bool)
  if mask_logits.ndim != 4:
    raise ValueError(f"mask_logits must be [R, M, M, K], got shape {mask_logits.shape}")
  if targets.shape != mask_logits.shape[:3]:
    raise ValueError(f"targets must be [R, M, M] = {mask_logits.shape[:3]}, got shape {targets.shape}")
  if labels.shape != mask_logits.shape[:1] or valid.shape != mask_logits.shape[:1]:
    raise ValueError(f"labels and valid must be [R] = {mask_logits.shape[:1]}, got {labels.shape} and "
                     f"{valid.shape}")
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f"labels must be integers, got {labels.dtype}")
  num_classes = mask_logits.shape[-1]
  index = jnp.clip(labels, 0, num_classes - 1)[:, None, None, None]
  own_class = jnp.take_along_axis(mask_logits, index, axis=-1)[..., 0].astype(jnp.float32)
  # Non-positive rows may hold anything (padding): replace them before the loss so no NaN leaks into the sum.
  own_class = jnp.where(valid[:, None, None], own_class, 0.0)
  per_pixel = optax.sigmoid_binary_cross_entropy(own_class, targets.astype(jnp.float32))
  total = jnp.sum(jnp.where(valid[:, None, None], per_pixel, 0.0))
  count = jnp.sum(valid) * targets.shape[1] * targets.shape[2]
  return total / jnp.maximum(count, 1).astype(jnp.float32)
