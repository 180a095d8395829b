"""Config loading: overrides are typed and checked, unknown keys and names fail early and clearly."""

import os

import pytest

from jvision import config as config_lib

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments",
                      "cnn_digits.py")


def test_overrides_are_converted_to_the_existing_type():
  config = config_lib.load_config(CONFIG, [
      "--config.optimizer.learning_rate=0.01", "config.batch_size=32", "model.features=(4, 8, 16)",
      "model.batch_norm=false", "model.activation=elu", "optimizer.learning_rate=1"])
  assert config.optimizer.learning_rate == 1.0 and isinstance(config.optimizer.learning_rate, float)
  assert config.batch_size == 32 and config.model.features == (4, 8, 16)
  assert config.model.batch_norm is False and config.model.activation == "elu"


def test_config_is_locked_after_loading():
  config = config_lib.load_config(CONFIG)
  with pytest.raises(AttributeError):
    config.new_key = 1


@pytest.mark.parametrize("override, message", [
    ("optimizer.lr=0.1", r"unknown config key 'optimizer.lr': optimizer has no 'lr'; valid keys there: "
                         r"b1|.*learning_rate"),
    ("epochs=3", r"the top level has no 'epochs'; valid keys there: .*batch_size"),
    ("batch_size=abc", r"config key 'batch_size' is int; got 'abc'"),
    ("batch_size=2.5", r"config key 'batch_size' is int; got '2.5'"),
    ("model.batch_norm=maybe", r"'model.batch_norm' is a bool; got 'maybe'"),
    ("model.features=7", r"'model.features' is a sequence"),
    ("model.name=resnet9000", r"config key 'model.name': unknown 'resnet9000'; known: .*cnn"),
    ("optimizer.name=adagrad", r"unknown 'adagrad'; known: adam, adamw, lamb, momentum, nesterov, rmsprop, sgd"),
    ("total_steps=0", r"'total_steps' must be positive"),
    ("dtype=float64", r"'dtype' must be one of float32, bfloat16, float16"),
    ("batch_size", r"not of the form key=value"),
])
def test_bad_overrides_name_the_key(override, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    config_lib.load_config(CONFIG, [override])


def test_missing_file_and_missing_get_config(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    config_lib.load_config(str(tmp_path / "nope.py"))
  empty = tmp_path / "empty.py"
  empty.write_text("x = 1\n")
  with pytest.raises(config_lib.ConfigError, match="has no get_config"):
    config_lib.load_config(str(empty))


def test_sibling_experiment_builds_on_another_config_file(tmp_path):
  (tmp_path / "base.py").write_text(
      "import ml_collections\n\n"
      "def get_config():\n"
      "  return ml_collections.ConfigDict({'seed': 3, 'model': {'name': 'cnn', 'width': 8}})\n")
  (tmp_path / "derived.py").write_text(
      "from jvision import config as config_lib\n\n"
      "def get_config():\n"
      "  config = config_lib.sibling_experiment(__file__, 'base.py').get_config()\n"
      "  config.model.width = 16\n"
      "  return config\n")
  derived = config_lib.sibling_experiment(str(tmp_path / "any_file.py"), "derived.py").get_config()
  assert derived.seed == 3 and derived.model.width == 16  # The base's keys, with the derived change.
  assert "grad_accum_steps" not in derived  # Unlocked, without the trainer defaults that load_config adds.
  with pytest.raises(FileNotFoundError, match="missing.py' does not exist"):
    config_lib.sibling_experiment(str(tmp_path / "derived.py"), "missing.py")
