"""Tasks: how a batch becomes a loss, and predictions become metrics, for one kind of training."""

from __future__ import annotations

from typing import Any

from jvision import registry

TASKS = {
    "classification": "jvision.tasks.classification:ClassificationTask",
}


def get_task(name: str, **kwargs: Any):
  """Returns the task registered as ``name`` built with ``kwargs``."""
  return registry.lookup("task", TASKS, name)(**kwargs)
