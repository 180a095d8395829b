"""Host-side evaluators: fed one batch of jitted eval outputs at a time, they produce the split's metrics."""

from __future__ import annotations

from typing import Mapping

import numpy as np


class SumEvaluator:
  """Adds up per-batch sums (one of them ``count``) and returns the means: exact over padded batches."""

  def __init__(self):
    self._sums: dict[str, float] = {}

  def add(self, outputs: Mapping[str, np.ndarray]) -> None:
    if "count" not in outputs:
      raise KeyError(f"SumEvaluator needs a 'count' output; got: {', '.join(outputs)}")
    for name, value in outputs.items():
      self._sums[name] = self._sums.get(name, 0.0) + float(np.sum(value))

  def result(self) -> dict[str, float]:
    count = max(self._sums.get("count", 0.0), 1.0)
    return {name: value / count for name, value in self._sums.items() if name != "count"}
