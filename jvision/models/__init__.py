"""Model zoo: one architecture per module, flax.linen only.

``get_model(name, **kwargs)`` builds a model from its config name. Every model is called as
``model.apply(variables, images, train=...)`` with NHWC images, and keeps no state outside ``params`` and
``batch_stats``.
"""

from __future__ import annotations

from typing import Any

from flax import linen as nn

from jvision import registry

# Config name -> "module:constructor". Add a line here when adding an architecture.
MODELS = {
    "cnn": "jvision.models.cnn:CNN",
    "dlib_resnet": "jvision.models.dlib_resnet:DlibResNet",
    "mmod_detector": "jvision.models.mmod_detector:MMODDetector",
}


def get_model(name: str, **kwargs: Any) -> nn.Module:
  """Returns the flax module registered as ``name`` built with ``kwargs``."""
  return registry.lookup("model", MODELS, name)(**kwargs)
