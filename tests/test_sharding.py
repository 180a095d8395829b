"""Parameter layouts (replicated, FSDP, tensor parallel) on 8 fake devices: same steps, same parameters."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import linen as nn
from jax.sharding import PartitionSpec as P

from jvision import config as config_lib, models, sharding, train
from run_helpers import final_params, tiny_config


def test_create_mesh_shapes_and_errors():
  mesh = sharding.create_mesh(jax.devices()[:8], model_axis_size=2)
  assert mesh.axis_names == ("data", "model") and dict(mesh.shape) == {"data": 4, "model": 2}
  with pytest.raises(ValueError, match="divisor of the 8 devices"):
    sharding.create_mesh(jax.devices()[:8], model_axis_size=3)


def test_array_spec_rules():
  mesh = sharding.create_mesh(jax.devices()[:8], model_axis_size=2)  # data 4, model 2.
  spec = lambda names, shape, **kw: sharding.array_spec(names, shape, mesh, **kw)
  assert spec(("params", "w"), (64, 128)) == P(None, None)  # Replicated by default.
  # FSDP: the largest dimension that 4 divides; small arrays and indivisible ones stay whole.
  assert spec(("params", "w"), (64, 128), strategy="fsdp", fsdp_min_size=0) == P(None, "data")
  assert spec(("params", "w"), (64, 130), strategy="fsdp", fsdp_min_size=0) == P("data", None)
  assert spec(("params", "w"), (3, 5), strategy="fsdp", fsdp_min_size=0) == P(None, None)
  assert spec(("params", "w"), (64, 128), strategy="fsdp", fsdp_min_size=10_000) == P(None, None)
  assert spec(("step",), (), strategy="fsdp", fsdp_min_size=0) == P()
  # Annotations apply to the parameter and, matched as a path suffix, to its optimizer moments.
  annotations = {("block", "fc1", "kernel"): (None, "model")}
  for path in (("params", "block", "fc1", "kernel"), ("opt_state", "0", "mu", "block", "fc1", "kernel")):
    assert spec(path, (64, 128), annotations=annotations) == P(None, "model")
    assert spec(path, (64, 128), strategy="fsdp", fsdp_min_size=0, annotations=annotations) == P("data", "model")
  assert spec(("params", "other", "fc1", "kernel"), (64, 128), annotations=annotations) == P(None, None)
  # Without a model axis the annotation is dropped.
  flat = sharding.create_mesh(jax.devices()[:8])
  assert sharding.array_spec(("block", "fc1", "kernel"), (64, 128), flat, annotations=annotations) == P(None, None)
  with pytest.raises(ValueError, match="unknown parameter sharding 'zero'"):
    spec(("w",), (8,), strategy="zero")


def test_vit_tensor_parallel_annotations():
  model = models.get_model("vit_tiny", num_classes=3, image_size=8, patch_size=2, width=16, depth=1,
                           num_heads=2, mlp_dim=32, tensor_parallel=True)
  boxed = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1))))
  specs = sharding.annotated_specs(boxed["params"])
  layer = ("encoder_layer_0",)
  assert specs[layer + ("mlp_linear_1", "kernel")] == (None, "model")
  assert specs[layer + ("mlp_linear_2", "kernel")] == ("model", None)
  assert specs[layer + ("self_attention", "query", "kernel")] == (None, "model", None)
  assert specs[layer + ("self_attention", "out", "kernel")] == ("model", None, None)
  assert len(specs) == 6  # q, k, v, out, two MLP kernels; nothing else is annotated.
  # Unannotated, init gives plain arrays and the same values.
  plain = models.get_model("vit_tiny", num_classes=3, image_size=8, patch_size=2, width=16, depth=1, num_heads=2,
                           mlp_dim=32)
  a = plain.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))
  b = nn.meta.unbox(model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1))))
  jax.tree.map(np.testing.assert_array_equal, a, b)


def vit_config(*overrides, tensor_parallel=False):
  config = tiny_config("total_steps=3", "checkpoint_every_steps=3", "eval_every_steps=3", "log_every_steps=3",
                       "optimizer.name=momentum", "optimizer.learning_rate=0.1", *overrides)
  config.model = ml_collections.ConfigDict(dict(
      name="vit_tiny", num_classes=10, image_size=8, patch_size=2, width=32, depth=1, num_heads=4, mlp_dim=64,
      tensor_parallel=tensor_parallel))
  return config


@pytest.mark.heavy
def test_fsdp_and_tensor_parallel_train_like_replicated(tmp_path):
  devices = jax.devices()[:8]
  runs = {"replicated": vit_config(),
          "fsdp": vit_config("param_sharding=fsdp", "fsdp_min_size=0"),
          "fsdp_tensor_parallel": vit_config("model_axis_size=2", "param_sharding=fsdp", "fsdp_min_size=0",
                                             tensor_parallel=True)}
  params = {}
  for name, config in runs.items():
    summary = train.train_and_evaluate(config, str(tmp_path / name), progress=False, devices=devices)
    assert summary["step"] == 3
    params[name] = final_params(str(tmp_path / name), 3)
  # The layouts really differ: the first MLP kernel [32, 64] of each run.
  specs = {}
  for name, config in runs.items():
    exp = train.build_experiment(config, devices)
    kernel = exp.state_sharding.params["encoder_layer_0"]["mlp_linear_1"]["kernel"]
    moments = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(exp.state_sharding.opt_state)[0]
               if sharding.path_names(path)[-3:] == ("encoder_layer_0", "mlp_linear_1", "kernel")]
    assert len(moments) == 1 and moments[0].spec == kernel.spec, name  # The momentum follows its parameter.
    specs[name] = kernel.spec
  assert specs == {"replicated": P(None, None), "fsdp": P(None, "data"), "fsdp_tensor_parallel": P("data", "model")}
  # Same math, other collectives (reduce-scatter, all-gather): equal to float32 round-off.
  for name in ("fsdp", "fsdp_tensor_parallel"):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), params[name],
                 params["replicated"])


def test_bad_sharding_settings_are_config_errors():
  with pytest.raises(config_lib.ConfigError, match="'param_sharding' must be one of replicated, fsdp"):
    vit_config("param_sharding=zero3")
  with pytest.raises(config_lib.ConfigError, match="'model_axis_size' must be >= 1"):
    vit_config("model_axis_size=0")
