"""Tests for jvision/models/weights/keras_applications.py: Keras models built with weights=None, given random
biases and batch-norm statistics, saved, imported, and compared output by output with Keras itself."""

import chex
import jax
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from jvision.models.weights import keras_applications  # pylint: disable=wrong-import-position


def _randomize_biases_and_statistics(model, seed=0):
  """Keras initializes biases, BN mean/beta to 0 and gamma/var to 1: a mapping bug would hide behind them."""
  rng = np.random.RandomState(seed)
  for layer in model.layers:
    weights = layer.get_weights()
    if isinstance(layer, keras.layers.BatchNormalization):
      weights = [rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else 0.1 * rng.randn(*w.shape)
                 for i, w in enumerate(weights)]
    elif len(weights) == 2:
      weights = [weights[0], 0.1 * rng.randn(*weights[1].shape)]
    layer.set_weights([w.astype(np.float32) for w in weights])


def _keras_outputs(model, layer_names, x):
  probe = keras.Model(model.inputs, [model.get_layer(n).output for n in layer_names])
  return [np.asarray(y) for y in probe(x, training=False)]


def _assert_close(got, expected, name):
  # Relative to the feature's magnitude: float32 sums over up to 4608 terms and 50 layers.
  scale = max(float(np.abs(expected).max()), 1e-6)
  np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4 * scale, err_msg=name)


def test_vgg16_keras_file_imports_to_equal_logits_and_features(tmp_path):
  keras_model = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=7,
                                         classifier_activation=None)
  _randomize_biases_and_statistics(keras_model)
  path = str(tmp_path / "vgg16.keras")
  keras_model.save(path)
  model, variables = keras_applications.import_keras("vgg16", path)
  x = np.random.RandomState(1).uniform(-120, 150, (2, 32, 32, 3)).astype(np.float32)
  names = {"conv1_1": "block1_conv1", "conv3_3": "block3_conv3", "conv5_1": "block5_conv1",
           "pool2": "block2_pool", "pool5": "block5_pool"}
  *expected_features, expected_logits = _keras_outputs(keras_model, list(names.values()) + ["predictions"], x)
  logits, features = model.apply(variables, x, return_features=True)
  chex.assert_shape(logits, (2, 7))
  _assert_close(logits, expected_logits, "logits")
  for (ours, theirs), expected in zip(names.items(), expected_features):
    _assert_close(features[ours], expected, f"{ours} vs Keras {theirs}")


def test_resnet50_weights_only_file_imports_to_equal_logits_and_features(tmp_path):
  keras_model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=5,
                                            classifier_activation=None)
  _randomize_biases_and_statistics(keras_model)
  path = str(tmp_path / "resnet50.weights.h5")
  keras_model.save_weights(path)
  model, variables = keras_applications.import_keras("resnet50", path, classes=5)
  x = np.random.RandomState(2).randn(2, 64, 64, 3).astype(np.float32)
  names = {"stem": "conv1_relu", "layer1": "conv2_block3_out", "layer2": "conv3_block4_out",
           "layer3": "conv4_block6_out", "layer4": "conv5_block3_out"}
  *expected_features, expected_logits = _keras_outputs(keras_model, list(names.values()) + ["predictions"], x)
  logits, features = jax.jit(lambda v, x: model.apply(v, x, return_features=True))(variables, x)
  _assert_close(logits, expected_logits, "logits")
  for (ours, theirs), expected in zip(names.items(), expected_features):
    _assert_close(features[ours], expected, f"{ours} vs Keras {theirs}")


def test_checkpoint_without_classifier_keeps_a_fresh_head(tmp_path):
  keras_model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
  _randomize_biases_and_statistics(keras_model, seed=3)
  path = str(tmp_path / "vgg16_notop.h5")  # legacy full-model HDF5
  keras_model.save(path)
  model, variables = keras_applications.import_keras("vgg16", path, num_classes=4, classifier_width=8,
                                                     pool_to=1)
  x = np.random.RandomState(4).uniform(-100, 150, (1, 32, 32, 3)).astype(np.float32)
  _, features = model.apply(variables, x, return_features=True)
  _assert_close(features["pool5"], np.asarray(keras_model(x)), "pool5")
  chex.assert_shape(variables["params"]["fc3"]["kernel"], (8, 4))


def test_missing_file_and_unknown_architecture_are_named():
  with pytest.raises(FileNotFoundError, match="nowhere.h5"):
    keras_applications.import_keras("vgg16", "/nowhere.h5")
  with pytest.raises(KeyError, match="no Keras import for 'vgg17'"):
    keras_applications.import_keras("vgg17", "/nowhere.h5")


def test_densenet121_keras_model_imports_to_equal_logits_and_features():
  keras_model = keras.applications.DenseNet121(weights=None, input_shape=(64, 64, 3), classes=6,
                                               classifier_activation=None)
  _randomize_biases_and_statistics(keras_model, seed=5)
  model, variables = keras_applications.import_keras("densenet121", keras_model)  # an in-memory model
  x = np.random.RandomState(6).randn(2, 64, 64, 3).astype(np.float32)
  names = {"stem": "conv1_relu", "block1": "conv2_block6_concat", "block2": "conv3_block12_concat",
           "block3": "conv4_block24_concat", "block4": "relu"}
  *expected_features, expected_logits = _keras_outputs(keras_model, list(names.values()) + ["predictions"], x)
  logits, features = jax.jit(lambda v, x: model.apply(v, x, return_features=True))(variables, x)
  _assert_close(logits, expected_logits, "logits")
  for (ours, theirs), expected in zip(names.items(), expected_features):
    _assert_close(features[ours], expected, f"{ours} vs Keras {theirs}")


def test_efficientnet_b0_imports_with_its_input_normalization(tmp_path):
  keras_model = keras.applications.EfficientNetB0(weights=None, input_shape=(64, 64, 3), classes=4,
                                                  classifier_activation=None)
  _randomize_biases_and_statistics(keras_model, seed=7)
  # ImageNet statistics in the Normalization layer, as a real checkpoint carries them.
  keras_model.get_layer("normalization").set_weights([
      np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32) ** 2,
      np.array(0)])
  keras_model.get_layer("normalization").finalize_state()  # the layer computes with constants set here
  path = str(tmp_path / "efficientnet_b0.keras")
  keras_model.save(path)
  model, variables = keras_applications.import_keras("efficientnet_b0", path)
  x = np.random.RandomState(8).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
  names = {"stem": "stem_activation", "stage2": "block2b_add", "stage3": "block3b_add",
           "stage6": "block6d_add", "stage7": "block7a_project_bn", "top": "top_activation"}
  *expected_features, expected_logits = _keras_outputs(keras_model, list(names.values()) + ["predictions"], x)
  logits, features = jax.jit(lambda v, x: model.apply(v, x, return_features=True))(variables, x)
  _assert_close(logits, expected_logits, "logits")
  for (ours, theirs), expected in zip(names.items(), expected_features):
    _assert_close(features[ours], expected, f"{ours} vs Keras {theirs}")
