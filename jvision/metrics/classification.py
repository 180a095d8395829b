"""Classification metrics as per-batch sums (the host divides at the end, so padded batches are exact)."""

from __future__ import annotations

import jax.numpy as jnp


def topk_correct(logits: jnp.ndarray, labels: jnp.ndarray, k: int = 1) -> jnp.ndarray:
  """``[B]`` float32: 1 where the label is among the ``k`` highest logits (a class tied with the label is not counted above it)."""
  label_logit = jnp.take_along_axis(logits, labels[:, None], axis=-1)
  # The label is in the top k iff fewer than k classes score strictly higher.
  higher = jnp.sum(logits > label_logit, axis=-1)
  return (higher < k).astype(jnp.float32)
