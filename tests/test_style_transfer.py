"""Tests of jvision/style_transfer.py on a randomly initialized VGG-19 and 32x32 scikit-image pairs
(the smallest size at which conv5_1 still has a 2x2 map; the L-BFGS runs are most of the file's time)."""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jvision import style_transfer as st

# The L-BFGS and Adam loops run hundreds of VGG-19 passes: unoptimized code would cost more than compiling.
pytestmark = pytest.mark.optimized

SIZE = 32
STEPS = 6  # One compiled L-BFGS chunk shared by the single and batched tests.


@pytest.fixture(scope="module")
def extractor():
  with pytest.warns(UserWarning, match="randomly initialized"):
    return st.load_vgg19(None)


@pytest.fixture(scope="module")
def pair():
  return st.load_image("skimage:astronaut", SIZE), st.load_image("skimage:brick", SIZE)


@pytest.fixture(scope="module")
def single_runs(extractor, pair):
  """L-BFGS on (astronaut, brick) with beta = 1e6 and on (brick, astronaut) with beta = 1e5, separately."""
  content, style = pair
  return [st.stylize(extractor, content, style, steps=STEPS, chunk_size=STEPS, weights={"style": 1e6}),
          st.stylize(extractor, style, content, steps=STEPS, chunk_size=STEPS, weights={"style": 1e5})]


def test_content_loss_is_zero_at_the_content_image(extractor, pair):
  content, style = pair
  config = st.StyleConfig()
  targets = st.compute_targets(extractor, content[None], style[None], config)
  chex.assert_shape(targets["content"]["conv4_2"], (1, SIZE // 8, SIZE // 8, 512))
  chex.assert_shape(targets["style"]["conv5_1"], (1, 512, 512))
  at_content = jax.jit(lambda x: st.loss_terms(extractor, x, targets, config))(content[None])
  at_style = st.loss_terms(extractor, style[None], targets, config)
  # Zero up to float rounding (the targets and the loss are computed by different XLA programs).
  assert float(at_content["content"][0]) < 1e-9 * float(at_style["content"][0])
  assert float(at_content["style"][0]) > 0


def test_gradients_reach_the_image_not_the_network(extractor, pair):
  content, style = pair
  config = st.StyleConfig()
  targets = st.compute_targets(extractor, content[None], style[None], config)
  weights = {k: jnp.float32(v) for k, v in config.loss_weights().items()}

  def objective(params, image):
    frozen = st.FeatureExtractor(extractor.model, params, extractor.preprocess)
    return st.make_objective(frozen, config)(image, targets, weights)

  image = jnp.asarray(0.5 * content + 0.5 * style)[None]
  value_fn = jax.jit(objective)
  param_grads, image_grad = jax.jit(jax.grad(objective, argnums=(0, 1)))(extractor.params, image)
  for leaf in jax.tree.leaves(param_grads):
    chex.assert_trees_all_equal(leaf, jnp.zeros_like(leaf))
  chex.assert_tree_all_finite(image_grad)
  assert float(jnp.abs(image_grad).max()) > 0
  # The gradient agrees with a central finite difference along a random direction.
  direction = jax.random.normal(jax.random.key(1), image.shape)
  direction = direction / jnp.linalg.norm(direction)
  eps = 1e-2
  numeric = (value_fn(extractor.params, image + eps * direction)
             - value_fn(extractor.params, image - eps * direction)) / (2 * eps)
  np.testing.assert_allclose(float(jnp.vdot(image_grad, direction)), float(numeric), rtol=5e-2)


def test_lbfgs_decreases_the_loss_monotonically(single_runs, pair):
  result = single_runs[0]
  chex.assert_shape(result.image, pair[0].shape)
  chex.assert_shape(result.losses, (STEPS,))
  assert np.all(np.diff(result.losses) < 0), result.losses
  assert result.losses[-1] < 0.5 * result.losses[0]
  assert result.image.min() >= 0 and result.image.max() <= 1
  # Both runs (and both chunks' state types) shared one compiled chunk: no recompilation per call.
  assert st.compiled_functions(st.StyleConfig(), STEPS, False)[2]._cache_size() == 1


def test_batched_call_equals_separate_calls(extractor, pair, single_runs):
  content, style = pair
  batched = st.stylize_batch(extractor, np.stack([content, style]), np.stack([style, content]),
                             weights={"style": np.array([1e6, 1e5])}, steps=STEPS, chunk_size=STEPS)
  chex.assert_shape(batched.image, (2, SIZE, SIZE, 3))
  chex.assert_shape(batched.losses, (2, STEPS))
  for index, single in enumerate(single_runs):
    np.testing.assert_allclose(batched.losses[index], single.losses, rtol=1e-3)
    np.testing.assert_allclose(batched.image[index], single.image, atol=2e-3)
  # Different problems really were solved: the two results differ.
  assert np.abs(batched.image[0] - batched.image[1]).mean() > 0.05


def test_adam_noise_init_coarse_to_fine_with_color_preservation(extractor, pair):
  content, style = pair
  config = st.StyleConfig(content_layers=("conv1_2",), style_layers=("conv1_1", "conv2_1"), optimizer="adam",
                          learning_rate=0.05, init="noise", scales=(0.5, 1.0), preserve_color=True)
  result = st.stylize(extractor, content, style, config, steps=4, chunk_size=2)
  chex.assert_shape(result.image, content.shape)
  chex.assert_shape(result.losses, (4,))
  assert len(result.frames) == 2 and result.frames[0].shape == content.shape
  # Luminance-only transfer: where nothing was clipped, the chroma (I, Q) is the content's.
  yiq = lambda rgb: rgb.astype(np.float64) @ st.RGB_TO_YIQ.T.astype(np.float64)
  inside = np.all((result.image > 1e-3) & (result.image < 1 - 1e-3), axis=-1)
  assert inside.mean() > 0.5
  np.testing.assert_allclose(yiq(result.image)[inside][:, 1:], yiq(content)[inside][:, 1:], atol=1e-4)
  # ... and the luminance is not the content's: the optimization started from noise.
  assert np.abs(yiq(result.image)[..., 0] - yiq(content)[..., 0]).mean() > 0.01


def test_luminance_only_matches_the_style_statistics_to_the_content():
  rng = np.random.default_rng(0)
  content = rng.uniform(0.2, 0.8, (1, 40, 40, 3)).astype(np.float32)
  style = rng.uniform(0.0, 0.4, (1, 36, 36, 3)).astype(np.float32)
  grey_content, grey_style = map(np.asarray, st.luminance_only(content, style))
  y = lambda rgb: rgb @ np.array([0.299, 0.587, 0.114], np.float32)
  np.testing.assert_allclose(grey_content[..., 0], y(content), atol=1e-6)
  chex.assert_trees_all_close(grey_content[..., 0], grey_content[..., 2])
  np.testing.assert_allclose(grey_style[..., 0].mean(), y(content).mean(), atol=1e-4)
  np.testing.assert_allclose(grey_style[..., 0].std(), y(content).std(), rtol=1e-3)


def test_bad_input_is_refused(extractor, pair):
  content, style = pair
  with pytest.raises(ValueError, match=r"in \[0, 1\]"):
    st.stylize(extractor, content * 255, style, steps=1)
  with pytest.raises(ValueError, match=r"RGB image \[H, W, 3\]"):
    st.stylize(extractor, content[..., 0], style, steps=1)
  with pytest.raises(ValueError, match="at least 32x32"):
    extractor(jnp.zeros((1, 16, 16, 3)))
  with pytest.raises(ValueError, match="unknown VGG-19 layer 'conv6_1'"):
    st.StyleConfig(style_layers=("conv6_1",))
  with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
    st.StyleConfig(optimizer="sgd")
  with pytest.raises(ValueError, match="scales must be increasing"):
    st.StyleConfig(scales=(1.0, 0.5))
  with pytest.raises(ValueError, match="2 style layer weights for 5"):
    st.StyleConfig(style_layer_weights=(1.0, 2.0))
  with pytest.raises(KeyError, match="unknown loss weight 'alpha'"):
    st.stylize(extractor, content, style, weights={"alpha": 1.0}, steps=1)
  with pytest.raises(ValueError, match="non-negative"):
    st.stylize(extractor, content, style, weights={"style": -1.0}, steps=1)
  with pytest.raises(ValueError, match=r"must be a scalar or \[2\]"):
    st.stylize_batch(extractor, np.stack([content] * 2), np.stack([style] * 2), weights={"style": [1.0] * 3})
  with pytest.raises(ValueError, match="unsupported VGG-19 weights file"):
    st.load_vgg19("vgg19.bin")
  with pytest.raises(ValueError, match="unknown scikit-image sample 'nope'"):
    st.load_image("skimage:nope")


def test_load_image_and_outputs(tmp_path):
  brick = st.load_image("skimage:brick", 48)  # a grey 512x512 sample
  chex.assert_shape(brick, (48, 48, 3))
  chex.assert_trees_all_equal(brick[..., 0], brick[..., 2])
  coffee = st.load_image("skimage:coffee", 60)  # 400x600 RGB
  chex.assert_shape(coffee, (40, 60, 3))
  assert coffee.dtype == np.float32 and 0 <= coffee.min() and coffee.max() <= 1
  curve = st.save_loss_curve(str(tmp_path / "loss.png"), np.array([100.0, 10.0, 1.0]))
  assert Image.open(curve).size == (640, 400)
  frames = [np.full((8, 8, 3), v, np.float32) for v in (0.0, 0.5, 1.0)]
  gif = Image.open(st.save_gif(str(tmp_path / "run.gif"), frames))
  assert gif.n_frames == 3
  gif.seek(2)
  assert np.asarray(gif.convert("RGB"))[0, 0, 0] == 255


def test_cli_writes_image_curve_and_gif(tmp_path, capsys):
  out = str(tmp_path / "out.png")
  rc = st.main(["--content", "skimage:astronaut", "--style", "skimage:brick", "--size", "32", "--steps", "2",
                "--chunk", "1", "--optimizer", "adam", "--out", out])
  assert rc == 0
  assert "randomly initialized" in capsys.readouterr().err
  assert Image.open(out).size == (32, 32)
  assert Image.open(str(tmp_path / "out_loss.png")).size == (640, 400)
  assert Image.open(str(tmp_path / "out.gif")).n_frames == 3  # the content, then one frame per chunk


def test_load_vgg19_keeps_the_convolutions_of_a_torchvision_state_dict(tmp_path):
  rng = np.random.default_rng(0)
  state, index, cin = {}, 0, 3
  for num_convs, width in zip((2, 2, 4, 4, 4), (64, 128, 256, 512, 512)):
    for _ in range(num_convs):
      state[f"features.{index}.weight"] = rng.standard_normal((width, cin, 3, 3), np.float32) * 0.05
      state[f"features.{index}.bias"] = rng.standard_normal(width, np.float32)
      index, cin = index + 2, width
    index += 1  # max pool
  state["classifier.6.weight"] = np.zeros((1000, 4096), np.float32)  # dropped: only convolutions are used
  path = str(tmp_path / "vgg19.npz")
  np.savez(path, **state)
  extractor = st.load_vgg19(path)
  # torchvision's features.0 is conv1_1 (OIHW -> HWIO); features.34 is conv5_4 (16 convs and 4 pools earlier).
  chex.assert_trees_all_equal(extractor.params["conv1_1"]["kernel"], state["features.0.weight"].transpose(2, 3, 1, 0))
  chex.assert_trees_all_equal(extractor.params["conv5_4"]["bias"], state["features.34.bias"])
  chex.assert_shape(extractor.params["fc3"]["kernel"], (1, 1))
  assert extractor.preprocess is st.preprocessing.torch
  # conv1_1 after ReLU, recomputed in numpy at one pixel away from the border.
  image = rng.uniform(size=(1, 32, 32, 3)).astype(np.float32)
  features = extractor(jnp.asarray(image))["conv1_1"]
  normalized = (image - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
  patch = normalized[0, 4:7, 5:8, :]  # the 3x3 window around (5, 6)
  expected = np.maximum(np.einsum("hwc,ochw->o", patch, state["features.0.weight"]) + state["features.0.bias"], 0)
  np.testing.assert_allclose(np.asarray(features[0, 5, 6]), expected, rtol=1e-4, atol=1e-4)


def test_keras_vgg19_file_gives_keras_features_with_caffe_preprocessing(tmp_path):
  """``load_vgg19`` on a Keras applications VGG19 file: same conv features as Keras on its own
  ``preprocess_input`` (caffe: BGR minus the ImageNet mean), the independent reference for both."""
  keras = pytest.importorskip("keras")
  keras_model = keras.applications.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
  rng = np.random.RandomState(0)
  for layer in keras_model.layers:  # Non-zero biases, so that a bias mix-up shows.
    if layer.weights:
      kernel, bias = layer.get_weights()
      layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype(np.float32)])
  path = str(tmp_path / "vgg19_notop.h5")  # Keras's legacy full-model HDF5, as users download it.
  keras_model.save(path)
  extractor = st.load_vgg19(path)
  images = rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
  ours = extractor(jnp.asarray(images))
  keras_inputs = keras.applications.vgg19.preprocess_input(images * 255.0)
  for ours_name, keras_name in (("conv1_1", "block1_conv1"), ("conv4_2", "block4_conv2"),
                                ("conv5_1", "block5_conv1")):
    probe = keras.Model(keras_model.input, keras_model.get_layer(keras_name).output)
    expected = np.asarray(probe(keras_inputs))
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(ours[ours_name]), expected, rtol=1e-4, atol=1e-4 * scale,
                               err_msg=ours_name)
