"""U-Net: shapes for binary and multi-class, skips concatenated per level, the up-convolution, size errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models.unet import UNet
from jvision.models.upsampling import ConvTranspose2d, bilinear_upsampler

try:
  import torch
except ImportError:  # PyTorch is an optional reference implementation: its comparisons skip without it.
  torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (optional reference) is not installed")


@pytest.mark.parametrize("num_classes", [1, 3])
def test_shapes_and_parameters_per_level(num_classes):
  model = UNet(num_classes=num_classes, width=4, depth=3)
  images = jnp.ones((2, 16, 16, 3))
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), images)
  logits = jax.jit(model.apply)(variables, images)
  chex.assert_shape(logits, (2, 16, 16, num_classes))
  chex.assert_tree_all_finite(logits)
  params = variables["params"]
  # Encoder level i has width 4 * 2**i; decoder level i concatenates skip (4 * 2**i) and up-conv output.
  assert params["down2"]["conv1"]["kernel"].shape == (3, 3, 8, 16)
  assert params["upconv1"]["kernel"].shape == (2, 2, 16, 8)
  assert params["up1"]["conv1"]["kernel"].shape == (3, 3, 16, 8)
  assert params["up0"]["conv1"]["kernel"].shape == (3, 3, 8, 4)
  assert params["head"]["kernel"].shape == (1, 1, 4, num_classes)


def test_skip_connection_carries_the_input_detail():
  # With everything below level 0 zeroed, the output still depends on the input through the level-0 skip.
  model = UNet(num_classes=2, width=4, depth=2, batch_norm=False)
  images = jax.random.normal(jax.random.PRNGKey(1), (1, 8, 8, 3))
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), images)
  params = jax.tree.map(lambda x: x, variables["params"])
  params["upconv0"] = jax.tree.map(jnp.zeros_like, params["upconv0"])
  grad = jax.grad(lambda x: jnp.sum(model.apply({"params": params}, x) ** 2))(images)
  assert float(jnp.abs(grad).sum()) > 0


@needs_torch
def test_conv_transpose_module_matches_pytorch_and_bilinear_init():
  x = np.random.default_rng(0).normal(size=(1, 3, 3, 2)).astype(np.float32)
  module = ConvTranspose2d(4, kernel_size=3, strides=2, padding=1, output_padding=1)
  variables = module.init(jax.random.PRNGKey(0), x)
  out = module.apply(variables, x)
  kernel, bias = np.asarray(variables["params"]["kernel"]), np.asarray(variables["params"]["bias"])
  reference = torch.nn.functional.conv_transpose2d(torch.tensor(x).permute(0, 3, 1, 2),
                                                   torch.tensor(kernel).permute(2, 3, 0, 1), torch.tensor(bias),
                                                   stride=2, padding=1, output_padding=1).permute(0, 2, 3, 1)
  np.testing.assert_allclose(out, reference.numpy(), atol=1e-5)
  up = bilinear_upsampler(2, 4, use_bias=False)
  constant = jnp.ones((1, 4, 4, 2))
  y = up.apply(up.init(jax.random.PRNGKey(0), constant), constant)
  chex.assert_shape(y, (1, 16, 16, 2))
  np.testing.assert_allclose(y[0, 4:12, 4:12], 1.0, atol=1e-6)  # Interior of a constant stays constant.


def test_size_error_names_sizes_that_work():
  with pytest.raises(ValueError, match="needs H and W divisible by 8; got 20x16 .e.g. 24x24"):
    UNet(depth=4).init(jax.random.PRNGKey(0), jnp.zeros((1, 20, 16, 3)))
