"""Multi-label losses with missing and uncertain labels, and CheXpert's uncertainty policies.

Chest X-ray labels come as 1 (positive), 0 (negative), -1 (uncertain) or NaN (not labelled).
``uncertainty_targets`` turns them into training targets by one of the policies of Irvin et al., "CheXpert"
(AAAI 2019, Sec. 4.1) — ``ignore`` (U-Ignore: -1 -> NaN, left out of the loss), ``zeros`` (U-Zeros),
``ones`` (U-Ones), ``multiclass`` (U-MultiClass: -1 is a third class) — or the label-smoothing variants of
Pham et al., "Interpreting chest X-rays via CNNs that exploit hierarchical disease dependencies and
uncertainty labels" (Neurocomputing 2021): ``ones_smoothed`` draws -1 -> U(0.55, 0.85) and
``zeros_smoothed`` -1 -> U(0, 0.3). ``masked_sigmoid_bce`` ignores NaN targets; ``masked_multiclass_ce``
is the U-MultiClass loss over [negative, positive, uncertain] logits.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

POLICIES = ("ignore", "zeros", "ones", "zeros_smoothed", "ones_smoothed", "multiclass")
ONES_SMOOTHED_RANGE = (0.55, 0.85)
ZEROS_SMOOTHED_RANGE = (0.0, 0.3)


def uncertainty_targets(labels: np.ndarray, policy: str,
                        rng: Optional[np.random.Generator] = None) -> np.ndarray:
  """Labels [..., L] in {1, 0, -1, NaN} -> float32 targets under ``policy`` (NaN: not in the loss).

  For ``multiclass`` the targets are class indices 0 (negative), 1 (positive), 2 (uncertain) and NaN. The
  smoothed policies draw from ``rng`` (required for them).
  """
  if policy not in POLICIES:
    raise ValueError(f"unknown uncertainty policy {policy!r}; known: {', '.join(POLICIES)}")
  labels = np.asarray(labels, np.float32)
  known = ~np.isnan(labels)
  if not np.isin(labels[known], (-1.0, 0.0, 1.0)).all():
    raise ValueError(f"labels must be 1, 0, -1 or NaN; got {np.unique(labels[known])}")
  uncertain = labels == -1
  targets = labels.copy()
  if policy == "ignore":
    targets[uncertain] = np.nan
  elif policy == "zeros":
    targets[uncertain] = 0.0
  elif policy == "ones":
    targets[uncertain] = 1.0
  elif policy == "multiclass":
    targets[uncertain] = 2.0
  else:
    if rng is None:
      raise ValueError(f"policy {policy!r} draws random targets: pass rng")
    low, high = ONES_SMOOTHED_RANGE if policy == "ones_smoothed" else ZEROS_SMOOTHED_RANGE
    targets[uncertain] = rng.uniform(low, high, size=int(uncertain.sum()))
  return targets


def masked_sigmoid_bce(logits: jnp.ndarray, targets: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Binary cross-entropy of ``logits`` [B, L] against ``targets`` [B, L] in [0, 1] or NaN.

  Returns ``(losses [B, L], valid [B, L])`` float32, with loss 0 where the target is NaN (and no NaN
  gradient: the NaN is replaced before the loss is computed).
  """
  if logits.shape != targets.shape:
    raise ValueError(f"logits {logits.shape} and targets {targets.shape} must have the same shape")
  valid = ~jnp.isnan(targets)
  safe = jnp.where(valid, targets, 0.0).astype(jnp.float32)
  logits = logits.astype(jnp.float32)
  losses = jnp.maximum(logits, 0) - logits * safe + jnp.log1p(jnp.exp(-jnp.abs(logits)))
  return jnp.where(valid, losses, 0.0), valid.astype(jnp.float32)


def masked_multiclass_ce(logits: jnp.ndarray, targets: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """U-MultiClass: ``logits`` [B, L, 3] over (negative, positive, uncertain), ``targets`` [B, L] in
  {0, 1, 2} or NaN -> ``(losses [B, L], valid [B, L])``."""
  if logits.shape != (*targets.shape, 3):
    raise ValueError(f"expected logits {(*targets.shape, 3)} for targets {targets.shape}; got {logits.shape}")
  valid = ~jnp.isnan(targets)
  classes = jnp.where(valid, targets, 0.0).astype(jnp.int32)
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  losses = -jnp.take_along_axis(log_probs, classes[..., None], axis=-1)[..., 0]
  return jnp.where(valid, losses, 0.0), valid.astype(jnp.float32)


def multiclass_positive_probability(logits: jnp.ndarray) -> jnp.ndarray:
  """U-MultiClass at test time: softmax over the (negative, positive) logits only -> P(positive) [B, L]."""
  return jax.nn.softmax(logits[..., :2].astype(jnp.float32), axis=-1)[..., 1]
