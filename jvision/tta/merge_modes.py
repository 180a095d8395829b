"""Merge the predictions of several augmentations, stacked on axis 0: ``[A, ...] -> [...]``.

- ``mean``, ``sum``, ``max``, ``min``: element-wise over augmentations; work on logits or probabilities.
- ``gmean``: operates on **logits**. The geometric mean of the augmentations' class probabilities, returned as
  log-probabilities: ``mean_a log_softmax(x_a)`` (``log_sigmoid`` for a single channel). ttach multiplies raw
  values and takes a root, which is NaN for negative logits (ttach issue #4); the log form cannot be.
- ``tsharpen``: operates on **logits**. Temperature sharpening, the mean of square-rooted probabilities,
  returned as its log: ``log mean_a exp(0.5 * log_softmax(x_a))``, computed with ``logsumexp``.

Both log outputs rank classes like the probabilities they stand for, so ``argmax`` and ``softmax`` still apply.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MERGE_MODES = ("mean", "gmean", "sum", "max", "min", "tsharpen")


def _log_probabilities(logits, class_axis):
  if logits.shape[class_axis] == 1:
    return jax.nn.log_sigmoid(logits)
  return jax.nn.log_softmax(logits, axis=class_axis)


def merge(outputs: jnp.ndarray, mode: str = "mean", class_axis: int = -1) -> jnp.ndarray:
  """Merges ``outputs`` ``[A, ...]`` over axis 0; ``class_axis`` (of ``outputs``) is used by gmean/tsharpen."""
  if mode not in MERGE_MODES:
    raise ValueError(f"unknown merge mode {mode!r}; known: {', '.join(MERGE_MODES)}")
  if mode == "mean":
    return jnp.mean(outputs, axis=0)
  if mode == "sum":
    return jnp.sum(outputs, axis=0)
  if mode == "max":
    return jnp.max(outputs, axis=0)
  if mode == "min":
    return jnp.min(outputs, axis=0)
  log_p = _log_probabilities(outputs.astype(jnp.float32), class_axis)
  if mode == "gmean":
    return jnp.mean(log_p, axis=0)
  return jax.nn.logsumexp(0.5 * log_p, axis=0) - jnp.log(outputs.shape[0])  # tsharpen
