"""Tests for jvision/models/resnet.py."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision.models import resnet


def _param_count(model, size=32):
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 3)))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("constructor,expected", [
    (resnet.ResNet18, 11_689_512), (resnet.ResNet34, 21_797_672),
    (resnet.ResNet50, 25_557_032), (resnet.ResNet101, 44_549_160)])
def test_parameter_count_matches_the_torchvision_model(constructor, expected):
  # The counts torchvision prints for its ImageNet models (sum of p.numel()).
  assert _param_count(constructor(num_classes=1000)) == expected


def test_resnet18_on_32x32_gives_logits_and_strided_features():
  model = resnet.ResNet18(num_classes=10)
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  logits = jax.jit(model.apply)(variables, x)
  chex.assert_shape(logits, (2, 10))
  chex.assert_tree_all_finite(logits)
  for cifar_stem, strides in ((False, (2, 4, 4, 8, 16, 32)), (True, (1, 1, 1, 2, 4, 8))):
    model = resnet.ResNet18(num_classes=10, cifar_stem=cifar_stem)
    shapes = jax.eval_shape(model.init, jax.random.key(1), x)
    _, features = jax.eval_shape(lambda v, x, m=model: m.apply(v, x, return_features=True), shapes, x)
    names = ("stem", "layer1", "layer2", "layer3", "layer4")
    widths = (64, 64, 128, 256, 512)
    expected = {n: (2, 32 // s, 32 // s, c) for n, s, c in zip(names, strides[:1] + strides[2:], widths)}
    assert {k: v.shape for k, v in features.items()} == expected


def _conv_reference(x, kernel, stride, pad):
  """Direct numpy convolution, NHWC x HWIO, symmetric zero padding."""
  x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  kh, kw = kernel.shape[:2]
  oh = (x.shape[1] - kh) // stride + 1
  ow = (x.shape[2] - kw) // stride + 1
  out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
  for i in range(oh):
    for j in range(ow):
      patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
      out[:, i, j] = np.einsum("bhwc,hwco->bo", patch, kernel)
  return out


def _bn_reference(x, params, stats, eps=1e-5):
  return (x - stats["mean"]) / np.sqrt(stats["var"] + eps) * params["scale"] + params["bias"]


def test_strided_basic_block_matches_a_numpy_rederivation():
  block = resnet.BasicBlock(features=8, strides=2)
  x = np.random.RandomState(0).randn(2, 7, 7, 4).astype(np.float32)
  variables = block.init(jax.random.key(0), x, train=False)
  # Random BN statistics so that the mean/var mapping is exercised.
  rng = np.random.RandomState(1)
  stats = jax.tree.map(lambda v: rng.uniform(0.5, 1.5, v.shape).astype(np.float32), variables["batch_stats"])
  variables = {"params": variables["params"], "batch_stats": stats}
  got = block.apply(variables, x, train=False)
  p = jax.tree.map(np.asarray, variables["params"])
  y = _conv_reference(x, p["conv1"]["kernel"], 2, 1)
  y = np.maximum(_bn_reference(y, p["bn1"], stats["bn1"]), 0)
  y = _bn_reference(_conv_reference(y, p["conv2"]["kernel"], 1, 1), p["bn2"], stats["bn2"])
  shortcut = _bn_reference(_conv_reference(x, p["downsample_conv"]["kernel"], 2, 0),
                           p["downsample_bn"], stats["downsample_bn"])
  expected = np.maximum(y + shortcut, 0)
  chex.assert_shape(got, (2, 4, 4, 8))
  chex.assert_trees_all_close(got, expected, atol=1e-4, rtol=1e-4)


def test_bottleneck_stride_placement():
  x = jnp.ones((1, 8, 8, 16))
  for on_3x3 in (True, False):
    block = resnet.Bottleneck(features=4, strides=2, stride_on_3x3=on_3x3)
    variables = block.init(jax.random.key(0), x, train=False)
    _, state = block.apply(variables, x, train=True, mutable=["batch_stats"], capture_intermediates=True)
    conv1 = state["intermediates"]["conv1"]["__call__"][0]
    assert conv1.shape == ((1, 8, 8, 4) if on_3x3 else (1, 4, 4, 4))


def test_train_mode_updates_batch_stats_and_bfloat16_compute_keeps_float32_params():
  model = resnet.ResNet(stage_sizes=(1, 1), width=8, num_classes=3, dtype=jnp.bfloat16)
  x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  assert jax.tree.leaves(variables["params"])[0].dtype == jnp.float32
  logits, state = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert logits.dtype == jnp.float32
  before = variables["batch_stats"]["bn1"]["mean"]
  after = state["batch_stats"]["bn1"]["mean"]
  assert not np.allclose(before, after)


def test_bad_inputs_are_refused_with_a_clear_message():
  model = resnet.ResNet18(num_classes=3)
  with pytest.raises(ValueError, match="NHWC"):
    model.init(jax.random.key(0), jnp.zeros((32, 32, 3)))
  with pytest.raises(ValueError, match="floating-point"):
    model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3), jnp.uint8))
