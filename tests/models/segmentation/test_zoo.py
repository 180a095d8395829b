"""The segmentation zoo: every architecture x encoder pair builds and maps 64x64 images to 64x64 masks;
numeric forward passes, the auxiliary head, options and the input-size error."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models import segmentation
from jvision.models.segmentation.encoders import ENCODERS

PAIRS = list(itertools.product(segmentation.ARCHITECTURES, ENCODERS))


def _shapes(model, size=64, batch=2):
  """Output shapes of init + forward, traced abstractly (no compilation, no FLOPs)."""
  return jax.eval_shape(lambda x: model.init_with_output(jax.random.PRNGKey(0), x)[0],
                        jnp.zeros((batch, size, size, 3)))


@pytest.mark.parametrize("arch", segmentation.ARCHITECTURES)
def test_every_encoder_builds_and_runs_at_64(arch):
  for encoder in ENCODERS:
    out = _shapes(segmentation.create(arch, encoder, num_classes=3))
    assert out.shape == (2, 64, 64, 3), (arch, encoder, out.shape)


def test_numeric_forward_and_train_step():
  # One compiled train step (the others are traced abstractly above): FPN has the most decoder kinds
  # (lateral convs, GroupNorm, dropout); 32x32 keeps compilation cheap.
  model = segmentation.create("fpn", "resnet18", num_classes=2)
  images = jax.random.normal(jax.random.PRNGKey(1), (1, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), images)

  @jax.jit
  def loss_and_grad(params):
    def loss(params):
      logits, _ = model.apply({**variables, "params": params}, images, train=True, mutable=["batch_stats"],
                              rngs={"dropout": jax.random.PRNGKey(2)})
      return jnp.mean(jax.nn.log_softmax(logits)[..., 0]), logits
    return jax.value_and_grad(loss, has_aux=True)(params)

  (value, logits), grads = loss_and_grad(variables["params"])
  chex.assert_shape(logits, (1, 32, 32, 2))
  chex.assert_tree_all_finite((value, grads))
  # The decoder and head get gradients (the encoder's unused one-unit classifier does not).
  assert float(jnp.abs(grads["segmentation_head"]["Conv_0"]["kernel"]).sum()) > 0


def test_aux_head_options_and_size_error():
  model = segmentation.create("Unet", "resnet18", num_classes=3, aux_classes=5, decoder_attention="scse",
                              decoder_channels=(64, 32, 16, 8, 4), upsampling="transpose")
  masks, labels = _shapes(model)
  assert masks.shape == (2, 64, 64, 3) and labels.shape == (2, 5)
  fpn = _shapes(segmentation.create("FPN", "resnet18", num_classes=3, merge_policy="cat"))
  assert fpn.shape == (2, 64, 64, 3)
  assert _shapes(segmentation.create("DeepLabV3", "resnet18", output_stride=16), size=48).shape == (2, 48, 48, 1)
  with pytest.raises(ValueError, match=r"needs H and W divisible by 32; got 48x48. Sizes that work: height 32 or 64"):
    _shapes(segmentation.create("Unet", "resnet18"), size=48)
  with pytest.raises(ValueError, match="unknown segmentation architecture 'unet3'; known: unet, unetplusplus"):
    segmentation.create("unet3", "resnet18")
  with pytest.raises(ValueError, match="unknown encoder 'resnet7'"):
    segmentation.create("unet", "resnet7")
  with pytest.raises(ValueError, match="Unet has no option.* merge_policy"):
    segmentation.create("unet", "resnet18", merge_policy="add")
  with pytest.raises(ValueError, match="output_stride must be 8 or 16; got 32"):
    segmentation.create("deeplabv3", "resnet18", output_stride=32)
  with pytest.raises(ValueError, match="unknown FPN merge policy 'mean'"):
    _shapes(segmentation.create("fpn", "resnet18", merge_policy="mean"))


def test_scse_gates_by_hand():
  from jvision.models.segmentation.blocks import SCSE
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 3, 3, 4))
  module = SCSE(reduction=2)
  variables = module.init(jax.random.PRNGKey(1), x)
  p = jax.tree.map(np.asarray, variables["params"])
  xn = np.asarray(x)
  sigmoid = lambda z: 1 / (1 + np.exp(-z))
  squeeze = np.maximum(xn.mean((1, 2)) @ p["cse_reduce"]["kernel"][0, 0] + p["cse_reduce"]["bias"], 0)
  channel = sigmoid(squeeze @ p["cse_expand"]["kernel"][0, 0] + p["cse_expand"]["bias"])
  spatial = sigmoid(xn @ p["sse"]["kernel"][0, 0] + p["sse"]["bias"])
  np.testing.assert_allclose(module.apply(variables, x), xn * channel[:, None, None] + xn * spatial, rtol=1e-5)
