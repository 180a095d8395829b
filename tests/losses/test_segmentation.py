"""Segmentation losses against numpy re-derivations and scikit-learn; the mode/target errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from jvision.losses import segmentation as losses


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


@pytest.fixture
def multiclass():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
  target = rng.integers(0, 3, (2, 4, 5))
  target[0, 0, :2] = 255
  return logits, target


def test_cross_entropy_ignore_index_and_smoothing(multiclass):
  logits, target = multiclass
  keep = target != 255
  log_p = np.log(_softmax(logits))[keep]
  t = target[keep]
  expected = -np.mean(log_p[np.arange(len(t)), t])
  assert float(losses.cross_entropy(logits, target)) == pytest.approx(expected, rel=1e-5)
  smooth = 0.1
  soft = np.full(log_p.shape, smooth / 3) + (1 - smooth) * np.eye(3)[t]
  assert float(losses.soft_cross_entropy(logits, target, smooth_factor=smooth)) == pytest.approx(
      -np.mean(np.sum(soft * log_p, -1)), rel=1e-5)
  all_ignored = np.full(target.shape, 255)
  assert float(losses.cross_entropy(logits, all_ignored)) == 0.0  # Not NaN.


def test_dice_jaccard_tversky_multiclass(multiclass):
  logits, target = multiclass
  keep = (target != 255)[..., None]
  p = _softmax(logits) * keep
  y = np.eye(3)[np.where(target == 255, 0, target)] * keep
  inter, sp, sy = (p * y).sum((0, 1, 2)), p.sum((0, 1, 2)), y.sum((0, 1, 2))
  dice = 1 - 2 * inter / (sp + sy)
  jaccard = 1 - inter / (sp + sy - inter)
  kw = dict(mode="multiclass", ignore_index=255)
  assert float(losses.dice_loss(logits, target, **kw)) == pytest.approx(dice.mean(), rel=1e-5)
  assert float(losses.jaccard_loss(logits, target, **kw)) == pytest.approx(jaccard.mean(), rel=1e-5)
  # Tversky with alpha = beta = 0.5 is Dice; alpha = beta = 1 is Jaccard.
  assert float(losses.tversky_loss(logits, target, **kw)) == pytest.approx(dice.mean(), rel=1e-5)
  assert float(losses.tversky_loss(logits, target, alpha=1.0, beta=1.0, **kw)) == pytest.approx(
      jaccard.mean(), rel=1e-5)
  assert float(losses.dice_loss(logits, target, log_loss=True, **kw)) == pytest.approx(
      np.mean(-np.log(1 - dice)), rel=1e-5)


def test_soft_bce_and_focal_binary():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(2, 3, 3, 1)).astype(np.float32)
  target = rng.integers(0, 2, (2, 3, 3))
  p, y = _sigmoid(logits[..., 0]), target.astype(np.float64)
  ys = y * 0.9 + (1 - y) * 0.1
  expected = -np.mean(ys * np.log(p) + (1 - ys) * np.log(1 - p))
  assert float(losses.soft_bce(logits, target, "binary", smooth_factor=0.1)) == pytest.approx(expected, rel=1e-5)
  p_t = np.where(y == 1, p, 1 - p)
  alpha_t = np.where(y == 1, 0.25, 0.75)
  focal = -np.mean(alpha_t * (1 - p_t) ** 2 * np.log(p_t))
  assert float(losses.focal_loss(logits, target, "binary", alpha=0.25)) == pytest.approx(focal, rel=1e-5)


def test_lovasz_on_hard_predictions_is_the_jaccard_loss():
  # The Lovasz extension equals the set function on 0/1 error vectors: with one-hot probabilities the
  # Lovasz-softmax loss is the mean over present classes of 1 - IoU (scikit-learn's jaccard_score).
  rng = np.random.default_rng(2)
  target = rng.integers(0, 3, (1, 6, 6))
  prediction = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, 3, target.shape))
  logits = 100.0 * np.eye(3)[prediction]
  iou = skm.jaccard_score(target.ravel(), prediction.ravel(), average=None, labels=range(3))
  assert float(jax.jit(losses.lovasz_softmax)(jnp.asarray(logits), target)) == pytest.approx(np.mean(1 - iou), abs=1e-5)
  # Binary hinge with logits +-1: errors are 0 or 2 on exactly the wrong pixels -> 2 (1 - IoU(foreground)).
  binary_target = (target == 1).astype(np.int32)
  binary_prediction = prediction == 1
  hinge_logits = np.where(binary_prediction, 1.0, -1.0)[..., None]
  foreground_iou = skm.jaccard_score(binary_target.ravel(), binary_prediction.ravel())
  assert float(jax.jit(losses.lovasz_hinge)(jnp.asarray(hinge_logits), binary_target)) == pytest.approx(
      2 * (1 - foreground_iou), abs=1e-5)
  # Differentiable and finite.
  grad = jax.jit(jax.grad(lambda x: losses.lovasz_softmax(x, target)))(jnp.asarray(logits / 100.0))
  assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


def test_multilabel_dice_matches_numpy():
  rng = np.random.default_rng(4)
  logits = rng.normal(size=(2, 3, 3, 2)).astype(np.float32)
  target = rng.integers(0, 2, (2, 3, 3, 2))
  p = _sigmoid(logits)
  inter, sp, sy = (p * target).sum((0, 1, 2)), p.sum((0, 1, 2)), target.sum((0, 1, 2))
  assert float(losses.dice_loss(logits, target, "multilabel")) == pytest.approx(
      np.mean(1 - 2 * inter / (sp + sy)), rel=1e-5)
  assert np.isfinite(float(jax.jit(losses.lovasz_loss, static_argnums=2)(jnp.asarray(logits), target, "multilabel")))


def test_wrong_target_for_the_mode_says_what_it_expects():
  logits = jnp.zeros((2, 4, 4, 3))
  with pytest.raises(ValueError, match=r"mode 'multiclass' expects .* \[B, H, W\] = \(2, 4, 4\).*multilabel"):
    losses.dice_loss(logits, jnp.zeros((2, 4, 4, 3), jnp.int32), "multiclass")
  with pytest.raises(ValueError, match="integer target of class ids; got dtype float32"):
    losses.cross_entropy(logits, jnp.zeros((2, 4, 4), jnp.float32))
  with pytest.raises(ValueError, match=r"mode 'multilabel' expects .* \[B, H, W, C\] = \(2, 4, 4, 3\).*multiclass"):
    losses.dice_loss(logits, jnp.zeros((2, 4, 4), jnp.int32), "multilabel")
  with pytest.raises(ValueError, match="mode 'binary' expects logits with one channel"):
    losses.dice_loss(logits, jnp.zeros((2, 4, 4), jnp.int32), "binary")
  with pytest.raises(ValueError, match="unknown mode 'multi'"):
    losses.dice_loss(logits, jnp.zeros((2, 4, 4), jnp.int32), "multi")
