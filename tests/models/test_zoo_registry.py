"""The zoo's entries in jvision.models.MODELS build and map images to [B, num_classes] logits (shapes only)."""

import jax
import jax.numpy as jnp
import pytest

from jvision import models

ZOO = ["resnet18", "resnet18_aa", "resnet34", "resnet50", "resnet101", "densenet121", "densenet169", "efficientnet_b0",
       "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "vit_b16", "vit_tiny"] + [
           f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]


@pytest.mark.parametrize("name", ZOO)
def test_registered_model_traces_to_logits_with_a_head_name(name):
  model = models.get_model(name, num_classes=7)
  size = 224 if name.startswith("vit") else 32
  x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  logits = jax.eval_shape(model.apply, variables, x)
  assert logits.shape == (2, 7) and logits.dtype == jnp.float32
  assert model.head_name in variables["params"]


def test_unknown_name_lists_the_zoo():
  with pytest.raises(KeyError, match="unknown model 'resnet19'; known: .*resnet18"):
    models.get_model("resnet19")
