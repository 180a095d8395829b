"""dlib's MMOD scorer: output sizes by hand and the weights of the real file fitting every layer."""

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

from jvision.models import mmod_detector


def test_output_size_by_hand():
  # 100 -> (100 - 5) // 2 + 1 = 48 -> 22 -> 9 after three valid 5x5/2 convolutions; stride-1 layers keep 9.
  assert mmod_detector.output_size(100) == 9
  model = mmod_detector.MMODDetector()
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 100, 120, 3)))
  out = jax.eval_shape(model.apply, variables, jnp.zeros((2, 100, 120, 3)))
  assert out.shape == (2, 9, mmod_detector.output_size(120))


def test_real_weights_fit(models_dir):
  from jvision.face import dlib_format
  network = dlib_format.load_network(f"{models_dir}/mmod_human_face_detector.dat")
  file_shapes = jax.tree_util.tree_map(lambda a: a.shape, dlib_format.flax_params(network))
  init = jax.eval_shape(mmod_detector.MMODDetector().init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))
  assert jax.tree_util.tree_map(lambda a: a.shape, dict(init["params"])) == file_shapes


def test_bad_input():
  with pytest.raises(ValueError, match="expects images"):
    mmod_detector.MMODDetector().init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64)))
