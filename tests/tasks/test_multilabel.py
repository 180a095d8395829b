"""The multi-label task: preprocessing, masked loss, U-MultiClass scores and AUC evaluation vs scikit-learn."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage
from sklearn import metrics as skm

from jvision import tasks
from jvision.data import xray_synthetic
from jvision.tasks import multilabel
from jvision.tasks.multilabel import MultiLabelTask
from jvision.xray import preprocess

NAMES = xray_synthetic.PATHOLOGIES


def linear_apply(variables, images, train=False, rngs=None, mutable=None):
  """A linear model on the mean pixel: enough to check the task's wiring."""
  logits = jnp.mean(images, axis=(1, 2)) @ variables["params"]["w"] + variables["params"]["b"]
  return (logits, {}) if mutable is not None else logits


def examples(n, size=64):
  config = xray_synthetic.XraySyntheticConfig(name="t", image_size=size)
  return [xray_synthetic.render(config, "train", i) for i in range(n)]


def test_registered_and_preprocessing_shapes_and_range():
  task = tasks.get_task("multilabel", pathologies=NAMES, eval_label_key="true_labels")
  example = examples(1)[0]
  train = task.preprocess_train(example, np.random.default_rng(0))
  chex.assert_shape(train["image"], (64, 64, 1))
  assert train["image"].min() >= -1024 and train["image"].max() <= 1024
  expected = example["labels"].copy()
  expected[expected == -1] = np.nan  # Default policy: ignore.
  np.testing.assert_array_equal(train["targets"], expected)
  evaluated = task.preprocess_eval(example)
  np.testing.assert_array_equal(evaluated["labels"], example["true_labels"])
  np.testing.assert_allclose(evaluated["image"][..., 0], example["image"][..., 0] / 255.0 * 2048 - 1024, atol=1e-3)
  resized = MultiLabelTask(NAMES, image_size=32, augment=False).preprocess_eval(example)
  chex.assert_shape(resized["image"], (32, 32, 1))
  with pytest.raises(ValueError, match="unknown uncertainty policy"):
    MultiLabelTask(NAMES, uncertainty_policy="u_ones")
  with pytest.raises(ValueError, match="labels has 2 values"):
    task.preprocess_eval({"image": example["image"], "true_labels": np.zeros(2)})


def test_loss_is_the_mean_over_labelled_entries():
  task = MultiLabelTask(NAMES, uncertainty_policy="ignore")
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(1, 5)) * 1e-3, jnp.float32), "b": jnp.asarray(rng.normal(size=5), jnp.float32)}
  images = rng.uniform(-1024, 1024, (4, 8, 8, 1)).astype(np.float32)
  targets = np.array([[1, 0, np.nan, 1, 0]] * 4, np.float32)
  loss, (metrics, _) = task.loss(linear_apply, {"params": params}, {"image": images, "targets": targets},
                                 jax.random.PRNGKey(0))
  logits = images.mean(axis=(1, 2)) @ np.asarray(params["w"]) + np.asarray(params["b"])
  p = 1 / (1 + np.exp(-logits))
  keep = ~np.isnan(targets)
  bce = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
  assert float(loss) == pytest.approx(bce[keep].mean(), rel=1e-5)
  assert float(metrics["labelled_fraction"]) == pytest.approx(0.8)


def test_multiclass_outputs_and_scores():
  task = MultiLabelTask(NAMES, uncertainty_policy="multiclass")
  assert task.num_outputs == 15
  logits = jnp.asarray(np.random.default_rng(1).normal(size=(2, 15)), jnp.float32)
  three = np.asarray(logits).reshape(2, 5, 3)
  np.testing.assert_allclose(task.scores(logits), 1 / (1 + np.exp(three[..., 0] - three[..., 1])), rtol=1e-5)


def test_evaluation_equals_sklearn_auc():
  task = MultiLabelTask(NAMES, eval_label_key="true_labels", augment=False)
  batch = [task.preprocess_eval(e) for e in examples(40)]
  images = np.stack([b["image"] for b in batch])
  labels = np.stack([b["labels"] for b in batch])
  params = {"w": jnp.ones((1, 5)) / 100.0, "b": jnp.zeros(5)}
  evaluator = task.make_evaluator()
  mask = np.ones(40, bool)
  mask[-3:] = False  # Padding rows.
  outputs = task.eval_outputs(linear_apply, {"params": params}, {"image": images, "labels": labels, "mask": mask})
  evaluator.add(jax.device_get(outputs))
  result = evaluator.result()
  scores = 1 / (1 + np.exp(-images.mean(axis=(1, 2, 3)) / 100.0))
  for j, name in enumerate(NAMES):
    if len(set(labels[:37, j])) == 2:
      assert result[f"auc/{name}"] == pytest.approx(skm.roc_auc_score(labels[:37, j], scores[:37]), abs=1e-6)
  assert np.isfinite(result["mean_auc"])


def test_blur_augmentation_is_wired_into_training_only():
  example = examples(1)[0]
  plain = MultiLabelTask(NAMES, augment=False)
  blurred = MultiLabelTask(NAMES, augment=False, max_blur_sigma=1.5, blur_probability=1.0)
  image = plain.preprocess_train(example, np.random.default_rng(0))["image"]
  out = blurred.preprocess_train(example, np.random.default_rng(0))["image"]
  expected = preprocess.random_blur(image, rng=np.random.default_rng(0), max_sigma=1.5, probability=1.0)
  np.testing.assert_allclose(out, expected, atol=1e-3)
  assert np.abs(np.diff(out, axis=1)).mean() < 0.8 * np.abs(np.diff(image, axis=1)).mean()  # Smoother.
  np.testing.assert_array_equal(blurred.preprocess_eval(example)["image"], plain.preprocess_eval(example)["image"])
  for kwargs in (dict(blur_probability=1.5), dict(max_blur_sigma=float("nan"))):
    with pytest.raises(ValueError, match="max_blur_sigma >= 0 and blur_probability in"):
      MultiLabelTask(NAMES, **kwargs)


def test_evidence_masks_follow_the_image_through_augmentation():
  example = next(e for e in examples(40) if e["true_labels"][NAMES.index("Mass")] == 1)
  plain = MultiLabelTask(NAMES, max_blur_sigma=1.0)
  task = MultiLabelTask(NAMES, max_blur_sigma=1.0, evidence_weight=1.0, evidence_margin=0)
  out = task.preprocess_train(example, np.random.default_rng(3))
  # Reading the masks draws nothing: the image and targets are those of the same task without the penalty.
  same = plain.preprocess_train(example, np.random.default_rng(3))
  np.testing.assert_array_equal(out["image"], same["image"])
  np.testing.assert_array_equal(out["targets"], same["targets"])
  chex.assert_shape(out["evidence_masks"], (64, 64, 5))
  # The same affine draw as the image: the warped mask is the (nearest-neighbour) warp of the stored mask.
  _, (expected,) = preprocess.random_affine(preprocess.xrv_normalize(example["image"], 255.0),
                                            [example["finding_masks"].astype(np.float32)],
                                            rng=np.random.default_rng(3), max_rotation_degrees=8.0,
                                            max_translation=0.05, scale_range=(0.92, 1.08))
  np.testing.assert_array_equal(out["evidence_masks"], expected)
  k = NAMES.index("Mass")
  assert 0 < out["evidence_masks"][..., k].sum() != example["finding_masks"][..., k].sum()  # It moved.
  grown = MultiLabelTask(NAMES, augment=False, evidence_weight=1.0, evidence_margin=2).preprocess_train(
      example, np.random.default_rng(0))["evidence_masks"]
  np.testing.assert_array_equal(grown[..., k], ndimage.binary_dilation(example["finding_masks"][..., k],
                                                                       iterations=2))
  assert "evidence_masks" not in plain.preprocess_train(example, np.random.default_rng(3))


def penalty_of(logits_of, images, allowed):
  logits, input_vjp = jax.vjp(logits_of, images)
  return multilabel.evidence_penalty(input_vjp, logits, allowed)


def test_evidence_penalty_of_linear_logits_by_hand():
  rng = np.random.default_rng(0)
  weights = jnp.asarray(rng.normal(size=(2, 6, 6, 1)), jnp.float32)  # logit_l = sum(w_l * x).
  logits_of = lambda x: jnp.einsum("bhwc,lhwc->bl", x, weights)
  images = jnp.asarray(rng.uniform(-1024, 1024, size=(3, 6, 6, 1)), jnp.float32)
  allowed = np.zeros((3, 6, 6, 2), np.float32)
  allowed[0, :3, :3, 0] = 1  # Image 0 has finding 0 in its top-left corner, image 1 finding 1 bottom-right;
  allowed[1, 2:, 2:, 1] = 1  # the other pairs have no finding and are left out.
  w = np.abs(np.asarray(weights[..., 0]))
  expected = np.mean([w[l][allowed[b, ..., l] == 0].sum() / w[l].sum() for b, l in ((0, 0), (1, 1))])
  penalty = penalty_of(logits_of, images, jnp.asarray(allowed))
  np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)
  # Scale-free: a network cannot lower it by shrinking its gradient everywhere.
  scaled = penalty_of(lambda x: logits_of(x) / 100, images, jnp.asarray(allowed))
  np.testing.assert_allclose(float(scaled), expected, rtol=1e-5)
  assert float(penalty_of(logits_of, images, jnp.zeros_like(allowed))) == 0.0
  with pytest.raises(ValueError, match=r"logits \(3, 2\) do not match 1 evidence masks for 3 images"):
    penalty_of(logits_of, images, jnp.asarray(allowed[..., :1]))
  # Weights only inside the allowed regions: nothing to penalize.
  inside = weights * jnp.asarray(np.stack([allowed[0, ..., 0], allowed[1, ..., 1]])[..., None])
  inside_logits = lambda x: jnp.einsum("bhwc,lhwc->bl", x, inside)
  assert float(penalty_of(inside_logits, images, jnp.asarray(allowed))) == 0.0
  # Differentiable in the model's parameters: a gradient step moves the weights' mass into the masks.
  of_weights = lambda w: penalty_of(lambda x: jnp.einsum("bhwc,lhwc->bl", x, w), images, jnp.asarray(allowed))
  step = weights - 1.0 * jax.grad(of_weights)(weights)
  assert float(of_weights(step)) < expected - 1e-3


def test_evidence_weight_adds_the_penalty_to_the_loss():
  rng = np.random.default_rng(1)
  params = {"w": jnp.asarray(rng.normal(size=(1, 5)) * 1e-3, jnp.float32), "b": jnp.zeros(5, jnp.float32)}
  images = rng.uniform(-1024, 1024, (2, 8, 8, 1)).astype(np.float32)
  targets = np.array([[1, 0, 0, 1, 0]] * 2, np.float32)
  allowed = np.zeros((2, 8, 8, 5), np.float32)
  allowed[:, 2:5, 2:5, 3] = 1
  batch = {"image": images, "targets": targets, "evidence_masks": allowed}
  key = jax.random.PRNGKey(0)
  plain, _ = MultiLabelTask(NAMES).loss(linear_apply, {"params": params}, batch, key)
  loss, (metrics, _) = MultiLabelTask(NAMES, evidence_weight=10.0).loss(linear_apply, {"params": params}, batch,
                                                                         key)
  # linear_apply's logit is a weighted mean of all 64 pixels: a flat gradient, 55 of 64 pixels outside.
  assert float(metrics["evidence_penalty"]) == pytest.approx(55 / 64, rel=1e-5)
  assert float(metrics["classification_loss"]) == pytest.approx(float(plain), rel=1e-6)
  assert float(loss) == pytest.approx(float(plain) + 10.0 * 55 / 64, rel=1e-5)


def test_evidence_settings_and_masks_are_checked():
  example = examples(1)[0]
  with pytest.raises(ValueError, match="evidence_weight >= 0 and evidence_margin a whole number"):
    MultiLabelTask(NAMES, evidence_weight=-1.0)
  with pytest.raises(ValueError, match="evidence_weight >= 0 and evidence_margin a whole number"):
    MultiLabelTask(NAMES, evidence_weight=float("nan"))
  with pytest.raises(ValueError, match="evidence_margin a whole number of pixels >= 0; got 1.0, 1.5"):
    MultiLabelTask(NAMES, evidence_weight=1.0, evidence_margin=1.5)
  with pytest.raises(ValueError, match="'multiclass' uncertainty policy has three"):
    MultiLabelTask(NAMES, evidence_weight=1.0, uncertainty_policy="multiclass")
  task = MultiLabelTask(NAMES, evidence_weight=1.0)
  with pytest.raises(KeyError, match="needs finding masks under 'finding_masks'"):
    task.preprocess_train({"image": example["image"], "labels": example["labels"]}, np.random.default_rng(0))
  with pytest.raises(ValueError, match=r"finding_masks has shape \(64, 64, 2\)"):
    task.preprocess_train(dict(example, finding_masks=example["finding_masks"][..., :2]), np.random.default_rng(0))
  with pytest.raises(ValueError, match=r"must hold 0 or 1; got values in \[0, 255\]"):
    task.preprocess_train(dict(example, finding_masks=example["finding_masks"] * 255), np.random.default_rng(0))
