"""FCN: at initialization FCN-8s is bilinear upsampling of FCN-32s's scores (zero-initialized skip scores),
reproduced with PyTorch's conv_transpose2d; the max-unpooling decoder; shapes for every variant."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models.fcn import FCN
from jvision.ops import upsample

try:
  import torch
except ImportError:  # PyTorch is an optional reference implementation: its comparisons skip without it.
  torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (optional reference) is not installed")


def _torch_upsample(x, kernel, factor):
  k, p, op = upsample.upsample_padding(factor)
  return torch.nn.functional.conv_transpose2d(x, torch.tensor(np.asarray(kernel)).permute(2, 3, 0, 1),
                                              stride=factor, padding=p, output_padding=op)


@needs_torch
def test_fcn8s_at_init_is_bilinear_upsampling_of_the_coarse_scores():
  model = FCN(num_classes=3, backbone="resnet18", variant="8s", head_width=8, dropout_rate=0.0)
  images = jax.random.normal(jax.random.PRNGKey(0), (1, 64, 64, 3))
  variables = jax.jit(model.init)(jax.random.PRNGKey(1), images)
  logits, state = model.apply(variables, images, capture_intermediates=True)
  params = variables["params"]
  assert float(jnp.abs(params["score_pool4"]["kernel"]).sum()) == 0.0
  np.testing.assert_allclose(params["upscore_pool4"]["kernel"], upsample.bilinear_kernel(4, 3))
  scores = np.asarray(state["intermediates"]["score_fr"]["__call__"][0])  # [1, 2, 2, 3]
  x = torch.tensor(scores).permute(0, 3, 1, 2)
  x = _torch_upsample(x, params["upscore_pool4"]["kernel"], 2)
  x = x + torch.tensor(np.asarray(params["score_pool4"]["bias"]))[None, :, None, None]
  x = _torch_upsample(x, params["upscore_pool3"]["kernel"], 2)
  x = x + torch.tensor(np.asarray(params["score_pool3"]["bias"]))[None, :, None, None]
  x = _torch_upsample(x, params["upscore_final"]["kernel"], 8)
  np.testing.assert_allclose(logits, x.permute(0, 2, 3, 1).numpy(), atol=1e-4)


@pytest.mark.parametrize("variant,decoder,backbone", [("32s", "transpose", "vgg16"), ("16s", "unpool", "resnet18"),
                                                      ("8s", "unpool", "vgg16")])
def test_variants_shapes(variant, decoder, backbone):
  model = FCN(num_classes=5, backbone=backbone, variant=variant, decoder=decoder, head_width=8)
  out = jax.eval_shape(lambda x: model.init_with_output(jax.random.PRNGKey(0), x)[0], jnp.zeros((2, 64, 96, 3)))
  assert out.shape == (2, 64, 96, 5)


def test_unpool_decoder_runs_and_errors():
  model = FCN(num_classes=2, backbone="resnet18", variant="16s", decoder="unpool", head_width=8)
  images = jnp.ones((1, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), images)
  out = jax.jit(model.apply)(variables, images)
  chex.assert_shape(out, (1, 32, 32, 2))
  chex.assert_tree_all_finite(out)
  with pytest.raises(ValueError, match="unknown FCN variant '4s'"):
    FCN(variant="4s").init(jax.random.PRNGKey(0), images)
  with pytest.raises(ValueError, match="divisible by 32; got 40x32"):
    FCN().init(jax.random.PRNGKey(0), jnp.ones((1, 40, 32, 3)))


def test_cifar_stem_encoder_fuses_maps_at_strides_2_4_8():
  """With the 3x3/1 stem a width-16 ResNet-18's layer2/3/4 are at strides 2, 4, 8: the fused scores are 4x finer,
  the channels follow the width, and 8 (not 32) is the size multiple."""
  model = FCN(num_classes=3, backbone="resnet18", variant="8s", head_width=8, encoder_width=16, cifar_stem=True)
  images = jnp.zeros((1, 40, 24, 3))
  logits, variables = jax.eval_shape(
      lambda x: model.init_with_output(jax.random.PRNGKey(0), x, capture_intermediates=True), images)
  assert logits.shape == (1, 40, 24, 3)
  assert variables["intermediates"]["score_fr"]["__call__"][0].shape == (1, 5, 3, 3)  # stride 8
  conv1 = variables["params"]["encoder"]["backbone"]["conv1"]["kernel"]
  assert conv1.shape == (3, 3, 3, 16)
  assert variables["params"]["score_pool3"]["kernel"].shape == (1, 1, 32, 3)  # layer2: 2 x 16 channels
  with pytest.raises(ValueError, match="divisible by 8; got 36x24"):
    model.init(jax.random.PRNGKey(0), jnp.zeros((1, 36, 24, 3)))


def test_encoder_width_and_stem_are_resnet_only():
  with pytest.raises(ValueError, match="ResNet encoders only; got 'vgg16'"):
    FCN(backbone="vgg16", cifar_stem=True).init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))
  with pytest.raises(ValueError, match="encoder width must be positive"):
    FCN(backbone="resnet18", encoder_width=-4).init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))
