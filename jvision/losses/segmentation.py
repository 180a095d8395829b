"""Segmentation losses with the modes of segmentation_models.pytorch: binary, multiclass, multilabel.

Logits are channels-last: ``[B, H, W, C]`` (binary: C = 1). Targets per mode:
  - ``binary``: ``[B, H, W]`` or ``[B, H, W, 1]`` of 0/1 (int or float);
  - ``multiclass``: int ``[B, H, W]`` class ids in ``[0, C)`` (``ignore_index`` allowed);
  - ``multilabel``: ``[B, H, W, C]`` of 0/1, one binary mask per channel.
A target whose shape or dtype does not fit the mode is an error that says what the mode expects.

Region losses: Dice (Milletari et al., "V-Net", 3DV 2016), Jaccard / soft IoU (Rahman & Wang, ISVC 2016),
Tversky (Salehi et al., MLMI 2017), Focal (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017),
Lovasz hinge and Lovasz-softmax (Berman et al., "The Lovasz-Softmax loss", CVPR 2018).
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp

MODES = ("binary", "multiclass", "multilabel")


def _check_mode(mode: str) -> None:
  if mode not in MODES:
    raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")


def check_target(logits: jnp.ndarray, target: jnp.ndarray, mode: str) -> jnp.ndarray:
  """Validates ``target`` for ``mode`` and returns it as ``[B, H, W]`` (multiclass) or ``[B, H, W, C]``."""
  _check_mode(mode)
  logits, target = jnp.asarray(logits), jnp.asarray(target)
  if logits.ndim != 4:
    raise ValueError(f"logits must be [B, H, W, C]; got shape {tuple(logits.shape)}")
  b, h, w, c = logits.shape
  shape = tuple(target.shape)
  if mode == "multiclass":
    if shape != (b, h, w):
      raise ValueError(
          f"mode 'multiclass' expects an integer target of class ids with shape [B, H, W] = {(b, h, w)} "
          f"for logits {tuple(logits.shape)}; got shape {shape}"
          + (" (a one-hot target is mode 'multilabel')" if shape == (b, h, w, c) else ""))
    if not jnp.issubdtype(target.dtype, jnp.integer):
      raise ValueError(f"mode 'multiclass' expects an integer target of class ids; got dtype {target.dtype}")
    return target
  if mode == "binary":
    if c != 1:
      raise ValueError(f"mode 'binary' expects logits with one channel [B, H, W, 1]; got {tuple(logits.shape)} "
                       "(use mode 'multiclass' or 'multilabel' for several classes)")
    if shape == (b, h, w):
      target = target[..., None]
    elif shape != (b, h, w, 1):
      raise ValueError(f"mode 'binary' expects a 0/1 target of shape [B, H, W] or [B, H, W, 1] = "
                       f"{(b, h, w, 1)}; got shape {shape}")
    return target
  if shape != (b, h, w, c):
    raise ValueError(f"mode 'multilabel' expects a 0/1 target of shape [B, H, W, C] = {(b, h, w, c)} (one mask "
                     f"per channel); got shape {shape}"
                     + (" (class ids are mode 'multiclass')" if shape == (b, h, w) else ""))
  return target


def _valid_pixels(target: jnp.ndarray, ignore_index: Optional[int]) -> jnp.ndarray:
  if ignore_index is None:
    return jnp.ones(target.shape, jnp.float32)
  return (target != ignore_index).astype(jnp.float32)


def cross_entropy(logits: jnp.ndarray, target: jnp.ndarray, ignore_index: Optional[int] = 255,
                  label_smoothing: float = 0.0, class_weights: Optional[Sequence[float]] = None) -> jnp.ndarray:
  """Mean softmax cross-entropy over non-ignored pixels (0 when all are ignored). ``target`` int [B, H, W]."""
  target = check_target(logits, target, "multiclass")
  num_classes = logits.shape[-1]
  valid = _valid_pixels(target, ignore_index)
  safe = jnp.where(valid > 0, target, 0)
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  one_hot = jax.nn.one_hot(safe, num_classes)
  soft = one_hot * (1 - label_smoothing) + label_smoothing / num_classes
  per_pixel = -jnp.sum(soft * log_probs, axis=-1)
  if class_weights is not None:
    weight = jnp.asarray(class_weights, jnp.float32)[safe]
    valid = valid * weight
  return jnp.sum(per_pixel * valid) / jnp.maximum(jnp.sum(valid), 1e-12)


def soft_bce(logits: jnp.ndarray, target: jnp.ndarray, mode: str = "binary", smooth_factor: float = 0.0,
             ignore_index: Optional[int] = None, pos_weight: Optional[float] = None) -> jnp.ndarray:
  """Binary cross-entropy with logits and label smoothing (targets moved to ``smooth`` / ``1 - smooth``)."""
  if mode == "multiclass":
    raise ValueError("soft_bce is for modes 'binary' and 'multilabel'; use soft_cross_entropy for 'multiclass'")
  target = check_target(logits, target, mode)
  valid = _valid_pixels(target, ignore_index)
  y = jnp.where(valid > 0, target, 0).astype(jnp.float32)
  y = y * (1 - smooth_factor) + (1 - y) * smooth_factor
  x = logits.astype(jnp.float32)
  log_p, log_not_p = jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)
  positive = 1.0 if pos_weight is None else pos_weight
  per_pixel = -(positive * y * log_p + (1 - y) * log_not_p)
  return jnp.sum(per_pixel * valid) / jnp.maximum(jnp.sum(valid), 1e-12)


def soft_cross_entropy(logits: jnp.ndarray, target: jnp.ndarray, smooth_factor: float = 0.0,
                       ignore_index: Optional[int] = 255) -> jnp.ndarray:
  """Multiclass cross-entropy with label smoothing (smp's SoftCrossEntropyLoss)."""
  return cross_entropy(logits, target, ignore_index=ignore_index, label_smoothing=smooth_factor)


def _probabilities_and_targets(logits, target, mode, ignore_index):
  """-> probabilities ``[B, H*W, C]``, one-hot/0-1 targets ``[B, H*W, C]``, valid ``[B, H*W, 1]``."""
  target = check_target(logits, target, mode)
  b, h, w, c = logits.shape
  x = logits.astype(jnp.float32)
  valid = _valid_pixels(target, ignore_index)
  if mode == "multiclass":
    probabilities = jax.nn.softmax(x, axis=-1)
    y = jax.nn.one_hot(jnp.where(valid > 0, target, 0), c)
    valid = valid[..., None]
  else:
    probabilities = jax.nn.sigmoid(x)
    y = jnp.where(valid > 0, target, 0).astype(jnp.float32)
  return (probabilities.reshape(b, h * w, c), y.reshape(b, h * w, c),
          jnp.broadcast_to(valid, (b, h, w, valid.shape[-1])).reshape(b, h * w, -1))


def _region_loss(score_fn, logits, target, mode, classes, log_loss, from_logits, smooth, eps, ignore_index):
  if not from_logits:
    raise ValueError("region losses take logits (from_logits=True)")
  probabilities, y, valid = _probabilities_and_targets(logits, target, mode, ignore_index)
  probabilities, y = probabilities * valid, y * valid
  # Sums over batch and pixels per class, as smp does (dims=(0, 2) in its NCHW layout).
  intersection = jnp.sum(probabilities * y, axis=(0, 1))
  predicted = jnp.sum(probabilities, axis=(0, 1))
  actual = jnp.sum(y, axis=(0, 1))
  scores = score_fn(intersection, predicted, actual, smooth, eps)
  loss = -jnp.log(jnp.maximum(scores, eps)) if log_loss else 1.0 - scores
  # A class absent from the target contributes no loss (smp masks it the same way).
  loss = loss * (actual > 0)
  if classes is not None:
    loss = loss[jnp.asarray(classes)]
  return jnp.mean(loss)


def _dice_score(intersection, predicted, actual, smooth, eps):
  return (2 * intersection + smooth) / jnp.maximum(predicted + actual + smooth, eps)


def _jaccard_score(intersection, predicted, actual, smooth, eps):
  union = predicted + actual - intersection
  return (intersection + smooth) / jnp.maximum(union + smooth, eps)


def dice_loss(logits, target, mode: str = "multiclass", classes: Optional[Sequence[int]] = None,
              log_loss: bool = False, from_logits: bool = True, smooth: float = 0.0, eps: float = 1e-7,
              ignore_index: Optional[int] = None) -> jnp.ndarray:
  """1 - Dice coefficient (or -log Dice) per class, averaged over the classes present in the target."""
  return _region_loss(_dice_score, logits, target, mode, classes, log_loss, from_logits, smooth, eps,
                      ignore_index)


def jaccard_loss(logits, target, mode: str = "multiclass", classes: Optional[Sequence[int]] = None,
                 log_loss: bool = False, from_logits: bool = True, smooth: float = 0.0, eps: float = 1e-7,
                 ignore_index: Optional[int] = None) -> jnp.ndarray:
  """1 - soft IoU per class, averaged over the classes present in the target."""
  return _region_loss(_jaccard_score, logits, target, mode, classes, log_loss, from_logits, smooth, eps,
                      ignore_index)


def tversky_loss(logits, target, mode: str = "multiclass", classes: Optional[Sequence[int]] = None,
                 log_loss: bool = False, from_logits: bool = True, smooth: float = 0.0, eps: float = 1e-7,
                 alpha: float = 0.5, beta: float = 0.5, gamma: float = 1.0,
                 ignore_index: Optional[int] = None) -> jnp.ndarray:
  """1 - Tversky index ``tp / (tp + alpha fp + beta fn)`` per class (raised to ``gamma``: focal Tversky)."""
  def score(intersection, predicted, actual, smooth, eps):
    false_positive, false_negative = predicted - intersection, actual - intersection
    return (intersection + smooth) / jnp.maximum(
        intersection + alpha * false_positive + beta * false_negative + smooth, eps)
  if not from_logits:
    raise ValueError("region losses take logits (from_logits=True)")
  probabilities, y, valid = _probabilities_and_targets(logits, target, mode, ignore_index)
  probabilities, y = probabilities * valid, y * valid
  intersection = jnp.sum(probabilities * y, axis=(0, 1))
  scores = score(intersection, jnp.sum(probabilities, axis=(0, 1)), jnp.sum(y, axis=(0, 1)), smooth, eps)
  loss = -jnp.log(jnp.maximum(scores, eps)) if log_loss else 1.0 - scores
  loss = (loss ** gamma) * (jnp.sum(y, axis=(0, 1)) > 0)
  if classes is not None:
    loss = loss[jnp.asarray(classes)]
  return jnp.mean(loss)


def focal_loss(logits, target, mode: str = "multiclass", alpha: Optional[float] = None, gamma: float = 2.0,
               ignore_index: Optional[int] = None, normalized: bool = False,
               reduction: str = "mean") -> jnp.ndarray:
  """Sigmoid focal loss ``-alpha_t (1 - p_t)^gamma log p_t`` per channel, summed over classes for multiclass
  (each class one-vs-rest, as smp does), averaged over the non-ignored pixels."""
  _check_mode(mode)
  target = check_target(logits, target, mode)
  c = logits.shape[-1]
  valid = _valid_pixels(target, ignore_index)
  if mode == "multiclass":
    y = jax.nn.one_hot(jnp.where(valid > 0, target, 0), c)
    valid = jnp.broadcast_to(valid[..., None], y.shape)
  else:
    y = jnp.where(valid > 0, target, 0).astype(jnp.float32)
  x = logits.astype(jnp.float32)
  log_p_t = y * jax.nn.log_sigmoid(x) + (1 - y) * jax.nn.log_sigmoid(-x)
  p_t = jnp.exp(log_p_t)
  modulating = (1 - p_t) ** gamma
  loss = -modulating * log_p_t
  if alpha is not None:
    loss = loss * (alpha * y + (1 - alpha) * (1 - y))
  loss = loss * valid
  if normalized:
    loss = loss / jnp.maximum(jnp.sum(modulating * valid), 1e-6)
    return jnp.sum(loss)
  if reduction == "sum":
    return jnp.sum(loss)
  if reduction != "mean":
    raise ValueError(f"unknown reduction {reduction!r}; known: mean, sum")
  # Mean over valid pixel-channels per class, summed over the classes (smp sums the per-class means).
  per_class = jnp.sum(loss, axis=(0, 1, 2)) / jnp.maximum(jnp.sum(valid, axis=(0, 1, 2)), 1e-12)
  return jnp.sum(per_class) if mode == "multiclass" else jnp.mean(per_class)


def lovasz_grad(sorted_target: jnp.ndarray) -> jnp.ndarray:
  """Gradient of the Lovasz extension of the Jaccard loss w.r.t. errors sorted in decreasing order.

  ``sorted_target`` float ``[P]`` of 0/1, the ground truth in the order of decreasing errors.
  """
  total = jnp.sum(sorted_target)
  intersection = total - jnp.cumsum(sorted_target)
  union = total + jnp.cumsum(1.0 - sorted_target)
  jaccard = 1.0 - intersection / jnp.maximum(union, 1e-12)
  return jnp.concatenate([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def _lovasz_hinge_flat(logits: jnp.ndarray, labels: jnp.ndarray, valid: jnp.ndarray) -> jnp.ndarray:
  signs = 2.0 * labels - 1.0
  errors = (1.0 - logits * signs) * valid - (1 - valid) * 1e9  # Ignored pixels sort last with no weight.
  order = jnp.argsort(-errors)
  errors_sorted = errors[order]
  grad = lovasz_grad(labels[order] * valid[order]) * valid[order]
  return jnp.dot(jax.nn.relu(errors_sorted) * valid[order], jax.lax.stop_gradient(grad))


def lovasz_hinge(logits, target, per_image: bool = True, ignore_index: Optional[int] = None) -> jnp.ndarray:
  """Binary Lovasz hinge. ``logits`` ``[B, H, W, 1]``, ``target`` 0/1 ``[B, H, W]`` or ``[B, H, W, 1]``."""
  target = check_target(logits, target, "binary")
  valid = _valid_pixels(target, ignore_index)
  y = jnp.where(valid > 0, target, 0).astype(jnp.float32)
  x = logits.astype(jnp.float32)
  b = x.shape[0]
  if per_image:
    losses = jax.vmap(_lovasz_hinge_flat)(x.reshape(b, -1), y.reshape(b, -1), valid.reshape(b, -1))
    return jnp.mean(losses)
  return _lovasz_hinge_flat(x.reshape(-1), y.reshape(-1), valid.reshape(-1))


def _lovasz_softmax_flat(probabilities, labels, valid, classes_present_only: bool):
  """probabilities ``[P, C]``, labels int ``[P]``, valid ``[P]`` -> mean over classes."""
  c = probabilities.shape[-1]
  fg = jax.nn.one_hot(labels, c) * valid[:, None]

  def per_class(fg_c, prob_c):
    errors = jnp.abs(fg_c - prob_c) * valid - (1 - valid) * 1e9
    order = jnp.argsort(-errors)
    grad = lovasz_grad(fg_c[order]) * valid[order]
    return jnp.dot(jax.nn.relu(errors[order]), jax.lax.stop_gradient(grad))

  losses = jax.vmap(per_class, in_axes=(1, 1))(fg, probabilities)
  if classes_present_only:
    present = jnp.sum(fg, axis=0) > 0
    return jnp.sum(losses * present) / jnp.maximum(jnp.sum(present), 1)
  return jnp.mean(losses)


def lovasz_softmax(logits, target, per_image: bool = False, ignore_index: Optional[int] = 255,
                   classes: str = "present") -> jnp.ndarray:
  """Multiclass Lovasz-softmax. ``logits`` ``[B, H, W, C]``, ``target`` int ``[B, H, W]``.

  ``classes``: ``"present"`` averages over the classes in the target, ``"all"`` over every class.
  """
  if classes not in ("present", "all"):
    raise ValueError(f"classes must be 'present' or 'all'; got {classes!r}")
  target = check_target(logits, target, "multiclass")
  valid = _valid_pixels(target, ignore_index)
  y = jnp.where(valid > 0, target, 0)
  probabilities = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  b, c = logits.shape[0], logits.shape[-1]
  present_only = classes == "present"
  if per_image:
    losses = jax.vmap(lambda p, t, v: _lovasz_softmax_flat(p, t, v, present_only))(
        probabilities.reshape(b, -1, c), y.reshape(b, -1), valid.reshape(b, -1))
    return jnp.mean(losses)
  return _lovasz_softmax_flat(probabilities.reshape(-1, c), y.reshape(-1), valid.reshape(-1), present_only)


def lovasz_loss(logits, target, mode: str = "multiclass", per_image: bool = False,
                ignore_index: Optional[int] = None) -> jnp.ndarray:
  """Lovasz loss for any mode: hinge for binary (and per channel for multilabel), softmax for multiclass."""
  _check_mode(mode)
  if mode == "multiclass":
    return lovasz_softmax(logits, target, per_image=per_image, ignore_index=ignore_index)
  if mode == "binary":
    return lovasz_hinge(logits, target, per_image=per_image, ignore_index=ignore_index)
  target = check_target(logits, target, mode)
  return jnp.mean(jnp.stack([
      lovasz_hinge(logits[..., c:c + 1], target[..., c], per_image=per_image, ignore_index=ignore_index)
      for c in range(logits.shape[-1])]))


LOSSES = {
    "cross_entropy": lambda logits, target, ignore_index: cross_entropy(logits, target, ignore_index),
    "dice": lambda logits, target, ignore_index: dice_loss(logits, target, "multiclass",
                                                           ignore_index=ignore_index),
    "jaccard": lambda logits, target, ignore_index: jaccard_loss(logits, target, "multiclass",
                                                                 ignore_index=ignore_index),
    "focal": lambda logits, target, ignore_index: focal_loss(logits, target, "multiclass",
                                                             ignore_index=ignore_index),
    "lovasz": lambda logits, target, ignore_index: lovasz_softmax(logits, target, ignore_index=ignore_index),
}


def multiclass_loss(name: str, logits, target, ignore_index: Optional[int] = 255) -> jnp.ndarray:
  """A multiclass loss by config name (``LOSSES``): used by the segmentation task."""
  if name not in LOSSES:
    raise ValueError(f"unknown segmentation loss {name!r}; known: {', '.join(LOSSES)}")
  return LOSSES[name](logits, target, ignore_index)
