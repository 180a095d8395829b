"""Tests for jvision/models/detection_backbone.py: map names, strides and shapes of both architectures, and a
clear error for an unknown one. (FPN and the RPN head are exercised in tests/models/test_faster_rcnn.py.)"""

import chex
import jax
import jax.numpy as jnp
import pytest

from jvision.models.detection_backbone import DetectionBackbone, backbone_strides


def test_strides_by_hand():
  assert backbone_strides("simple", (8, 16, 32)) == {"c1": 2, "c2": 4, "c3": 8}
  assert backbone_strides("resnet50") == {"c2": 4, "c3": 8, "c4": 16, "c5": 32}
  with pytest.raises(ValueError, match="unknown detection backbone 'vgg'"):
    backbone_strides("vgg")


@pytest.mark.parametrize("architecture,widths", [("simple", (4, 8, 8)), ("resnet18", ())])
def test_feature_shapes_match_strides(architecture, widths):
  backbone = DetectionBackbone(architecture, widths)
  images = jnp.zeros((2, 64, 64, 3))
  variables = jax.jit(backbone.init)(jax.random.PRNGKey(0), images)
  features = jax.jit(backbone.apply)(variables, images)
  strides = backbone_strides(architecture, widths)
  assert set(features) == set(strides)
  for name, stride in strides.items():
    chex.assert_shape(features[name], (2, 64 // stride, 64 // stride, None))
