"""Classification losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def softmax_cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray,
                          label_smoothing: float = 0.0) -> jnp.ndarray:
  """Per-example cross-entropy of ``logits [B, K]`` against integer ``labels [B]``.

  With ``label_smoothing = e`` the target is ``(1 - e) * one_hot + e / K`` (Szegedy et al. 2016, Sec. 7).
  Returns ``[B]`` float32.
  """
  if logits.ndim != 2 or labels.shape != logits.shape[:1]:
    raise ValueError(f"expected logits [B, K] and labels [B], got {logits.shape} and {labels.shape}")
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
  num_classes = logits.shape[-1]
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
  targets = jax.nn.one_hot(labels, num_classes) * (1.0 - label_smoothing) + label_smoothing / num_classes
  return -jnp.sum(targets * log_probs, axis=-1)
