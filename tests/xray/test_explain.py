"""Tests for jvision/xray/explain.py with toy functions whose answers are computed by hand, and tiny untrained
flax models for shapes and the GIF."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jvision.models import cnn, xray_autoencoder
from jvision.xray import explain

H = W = 8
RNG = np.random.default_rng(0)
WEIGHTS = jnp.asarray(RNG.normal(size=(H, W, 1)), jnp.float32) / 1024.0


def linear_logit(images):
  """<w, x> + 1: the toy classifier's log-odds."""
  return jnp.sum(images * WEIGHTS, axis=(1, 2, 3)) + 1.0


def linear_score(images):
  return jax.nn.sigmoid(linear_logit(images))


def identity_autoencoder():
  return (lambda x: x / 1024.0), (lambda z: z * 1024.0)  # Latent = image / 1024.


def test_latent_shift_follows_the_gradient_of_a_linear_classifier():
  # Starts so confident that float32 rounds f to 1.0: the search must still move (it follows the log-odds).
  image = jnp.sign(WEIGHTS) * 512.0 + jnp.asarray(RNG.uniform(-100, 100, size=(H, W, 1)), jnp.float32)
  assert linear_score(image[None])[0] == 1.0
  encode, decode = identity_autoencoder()
  result = explain.latent_shift(linear_logit, encode, decode, image, max_lambda=2.0, search_steps=20,
                                target_drop=0.3, max_image_change=1.0, num_frames=5)
  # By hand: d sigmoid(<w, 1024 z> + 1)/dz is parallel to w, scaled to |z|, so frame(l) = x + l * 1024 |z| w/|w|.
  z = np.asarray(image) / 1024.0
  direction = np.asarray(WEIGHTS) * np.linalg.norm(z) / np.linalg.norm(WEIGHTS)
  for lam, frame in zip(result.lambdas, result.frames):
    np.testing.assert_allclose(frame, np.asarray(image) + lam * 1024.0 * direction, rtol=1e-4, atol=1e-2)
  assert np.all(np.diff(result.scores) <= 0) and result.scores[-1] < 0.75  # f decreases along the frames.
  assert result.lambdas[0] == 0 and result.lambda_stop < 0
  np.testing.assert_allclose(result.scores[0], linear_score(image[None])[0], rtol=1e-6)
  # Stopped at the first grid lambda whose score is 0.3 below the start (the function is monotone).
  assert result.stop_reason == "target_drop"
  search_scores = np.asarray(linear_score(image[None] + result.search_lambdas[:, None, None, None] * 1024.0
                                         * direction))
  drops = search_scores[0] - search_scores
  k = int(np.argmax(drops >= 0.3))
  assert result.lambda_stop == pytest.approx(result.search_lambdas[k])
  np.testing.assert_allclose(result.heatmap, np.abs(result.frames[-1, ..., 0] - result.frames[0, ..., 0]))


def test_search_stops_when_the_image_changes_too_much():
  image = jnp.asarray(RNG.uniform(-1024, 1024, size=(H, W, 1)), jnp.float32)
  encode, decode = identity_autoencoder()
  result = explain.latent_shift(linear_logit, encode, decode, image, max_lambda=2.0, search_steps=20,
                                target_drop=1.0, max_image_change=0.02, num_frames=3)
  assert result.stop_reason == "image_change"
  k = int(np.argmax(result.search_changes > 0.02))
  assert result.lambda_stop == pytest.approx(result.search_lambdas[k - 1])


@pytest.mark.parametrize("scores,changes,expected", [
    ([0.9, 0.8, 0.5, 0.2], [0, 0.01, 0.01, 0.01], (2, "target_drop")),       # 0.9 - 0.5 >= 0.35
    ([0.9, 0.8, 0.85, 0.2], [0, 0.01, 0.01, 0.01], (1, "stopped_dropping")),
    ([0.9, 0.8, 0.7, 0.6], [0, 0.01, 0.2, 0.3], (1, "image_change")),
    ([0.9, 0.8, 0.7, 0.6], [0, 0.01, 0.02, 0.03], (3, "max_lambda")),
])
def test_choose_stop_by_hand(scores, changes, expected):
  logits = np.log(scores) - np.log1p(-np.asarray(scores))
  assert explain.choose_stop(logits, np.asarray(changes), target_drop=0.35, max_image_change=0.1) == expected


def test_gradient_and_saliency_of_a_linear_score_are_its_weights():
  image = jnp.zeros((H, W, 1))
  linear = lambda x: jnp.sum(x * WEIGHTS, axis=(1, 2, 3))
  assert (np.asarray(WEIGHTS) < 0).any()  # The signed gradient keeps the weights' signs.
  np.testing.assert_allclose(explain.gradient(linear, image), np.asarray(WEIGHTS), rtol=1e-6)
  np.testing.assert_allclose(explain.gradient_saliency(linear, image), np.abs(np.asarray(WEIGHTS)[..., 0]),
                             rtol=1e-6)


def test_integrated_gradients_of_a_linear_score_is_exact():
  image = jnp.asarray(RNG.uniform(-1024, 1024, size=(H, W, 1)), jnp.float32)
  ig = explain.integrated_gradients(lambda x: jnp.sum(x * WEIGHTS, axis=(1, 2, 3)), image, steps=4)
  np.testing.assert_allclose(ig.attributions, (np.asarray(image) + 1024.0) * np.asarray(WEIGHTS), rtol=1e-5,
                             atol=1e-5)
  assert abs(ig.gap) < 1e-3


def test_integrated_gradients_completeness_for_nonlinear_models():
  image = jnp.asarray(RNG.uniform(-1024, 1024, size=(H, W, 1)), jnp.float32)
  ig = explain.integrated_gradients(linear_score, image, steps=64)
  # Completeness: sum of attributions = f(x) - f(baseline), within 1% of that difference.
  assert ig.score - ig.baseline_score == pytest.approx(float(ig.attributions.sum()), abs=0.01 * abs(
      ig.score - ig.baseline_score) + 1e-6)
  # A small untrained CNN (ReLU and max-pooling: kinks along the path give the trapezoid rule a visible error;
  # 2.1 % of f(x) - f(baseline) at 128 steps when this test was written; the stated tolerance is 5 %).
  image = jnp.asarray(RNG.uniform(-1024, 1024, size=(16, 16, 1)), jnp.float32)
  model = cnn.CNN(num_classes=1, features=(4, 8), kernel_size=3)
  variables = jax.jit(model.init)(jax.random.key(0), image[None] / 1024)
  score = lambda x: jax.nn.sigmoid(model.apply(variables, x / 1024.0, train=False)[:, 0])
  coarse = explain.integrated_gradients(score, image, steps=2)
  fine = explain.integrated_gradients(score, image, steps=128)
  difference = fine.score - fine.baseline_score
  assert abs(difference) > 1e-3  # The test means something only if the score moves.
  assert abs(fine.gap) <= 0.05 * abs(difference)
  assert abs(fine.gap) < abs(coarse.gap)  # Finer quadrature, smaller completeness error.


@pytest.mark.heavy
def test_walk_of_untrained_models_writes_a_gif(tmp_path):
  autoencoder = xray_autoencoder.XrayAutoencoder(features=(8, 8), latent_features=4)
  image = jnp.asarray(RNG.uniform(-1024, 1024, size=(16, 16, 1)), jnp.float32)
  ae_vars = jax.jit(autoencoder.init)(jax.random.key(0), image[None])
  # Jitted, as the explain script and CLI call them (op-by-op dispatch of a flax apply is slow).
  encode = jax.jit(lambda x: autoencoder.apply(ae_vars, x, method=autoencoder.encode))
  decode = jax.jit(lambda z: autoencoder.apply(ae_vars, z, method=autoencoder.decode))
  classifier = cnn.CNN(num_classes=1, features=(4,), kernel_size=3)
  cl_vars = jax.jit(classifier.init)(jax.random.key(1), image[None])
  logit = jax.jit(lambda x: classifier.apply(cl_vars, x / 1024.0, train=False)[:, 0])
  result = explain.latent_shift(logit, encode, decode, image, search_steps=8, num_frames=4,
                                max_image_change=10.0)
  assert result.frames.shape == (4, 16, 16, 1) and result.heatmap.shape == (16, 16)
  assert result.scores.shape == (4,) and result.search_logits.shape == (9,)
  assert result.stop_reason in explain.STOP_REASONS
  pictures = explain.walk_pictures(result, np.asarray(image), scale=2)
  assert len(pictures) == 6 and pictures[0].shape == (2 * 20, 2 * 32, 3)  # 0, 1, 2, 3, 2, 1.
  path = explain.save_gif(str(tmp_path / "walk.gif"), pictures)
  with Image.open(path) as gif:
    assert gif.n_frames == 6 and gif.size == (64, 40)


def test_heat_overlay_marks_the_hot_pixel_red():
  heat = np.zeros((4, 4))
  heat[1, 2] = 3.0
  picture = explain.heat_overlay(np.zeros((4, 4, 1)), heat, alpha=1.0)
  assert tuple(picture[1, 2]) == (255, 0, 0) and tuple(picture[0, 0]) == (128, 128, 128)


def test_latent_shift_rejects_a_batch():
  encode, decode = identity_autoencoder()
  with pytest.raises(ValueError, match="one image"):
    explain.latent_shift(linear_logit, encode, decode, jnp.zeros((2, H, W, 1)))


def test_explain_image_from_runs_writes_the_pictures(tmp_path):
  import ml_collections

  from jvision import restore, tasks

  pathologies = ("Effusion", "Mass")
  classifier = cnn.CNN(num_classes=2, features=(4,), kernel_size=3)
  autoencoder = xray_autoencoder.XrayAutoencoder(features=(8, 8), latent_features=4)
  x = jnp.zeros((1, 16, 16, 1))
  config = ml_collections.ConfigDict({"task": {"name": "multilabel", "pathologies": pathologies}})
  classifier_run = restore.Run("c", 1, config, classifier, tasks.get_task("multilabel", pathologies=pathologies),
                               jax.device_get(jax.jit(classifier.init)(jax.random.key(0), x)))
  autoencoder_run = restore.Run("a", 1, config, autoencoder, tasks.get_task("reconstruction"),
                                jax.device_get(jax.jit(autoencoder.init)(jax.random.key(1), x)))
  png = tmp_path / "xray.png"
  Image.fromarray(RNG.integers(0, 256, size=(20, 24), dtype=np.uint8)).save(png)
  image = explain.load_image(str(png), classifier_run, image_size=16)  # Center crop 20x20, resize to 16.
  assert image.shape == (16, 16, 1) and -1024 <= image.min() and image.max() <= 1024
  logit, probability = explain.classifier_fns(classifier_run, "Mass")
  np.testing.assert_allclose(jax.nn.sigmoid(logit(image[None])), probability(image[None]), rtol=1e-6)
  summary = explain.explain_image(classifier_run, autoencoder_run, image, "Mass", str(tmp_path / "out.gif"),
                                  search_steps=4, num_frames=3, max_image_change=10.0)
  for key in ("gif", "heatmap", "saliency", "integrated_gradients"):
    assert (tmp_path / summary[key].split("/")[-1]).is_file()
  assert summary["stop_reason"] in explain.STOP_REASONS
  assert abs(summary["ig_gap"]) <= 0.05 * abs(summary["ig_score_difference"]) + 1e-4
  with pytest.raises(KeyError, match="unknown pathology 'Hernia'"):
    explain.classifier_fns(classifier_run, "Hernia")
