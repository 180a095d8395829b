"""dlib's face recognition ResNet: shapes by hand and the weights of the real file fitting every layer."""

import chex
import jax
import jax.numpy as jnp
import pytest


@pytest.fixture
def models_dir():
  """dlib's model files from the face_recognition_models package (skips when it is not installed)."""
  import importlib.util
  import os
  spec = importlib.util.find_spec("face_recognition_models")
  if spec is None or not spec.submodule_search_locations:
    pytest.skip("face_recognition_models is not installed")
  return os.path.join(list(spec.submodule_search_locations)[0], "models")

from jvision.models import dlib_resnet


def test_output_shape_and_parameter_count():
  model = dlib_resnet.DlibResNet()
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((2, 150, 150, 3)))
  out = jax.eval_shape(model.apply, variables, jnp.zeros((2, 150, 150, 3)))
  chex.assert_shape(out, (2, 128))
  params = variables["params"]
  assert len([k for k in params if k.startswith("con_")]) == 29 and "fc_0" in params
  # Stem 7x7x3x32 conv; fc 256 -> 128 without bias.
  assert params["con_0"]["kernel"].shape == (7, 7, 3, 32) and params["fc_0"]["kernel"].shape == (256, 128)


def test_real_weights_fit(models_dir):
  from jvision.face import dlib_format
  network = dlib_format.load_network(f"{models_dir}/dlib_face_recognition_resnet_model_v1.dat")
  file_shapes = jax.tree_util.tree_map(lambda a: a.shape, dlib_format.flax_params(network))
  model = dlib_resnet.DlibResNet(mean_rgb=network.input["mean_rgb"])
  init = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 150, 150, 3)))["params"]
  assert jax.tree_util.tree_map(lambda a: a.shape, dict(init)) == file_shapes


def test_bad_input():
  with pytest.raises(ValueError, match="face chips"):
    dlib_resnet.DlibResNet().init(jax.random.PRNGKey(0), jnp.zeros((150, 150, 3)))
