"""Segmentation metrics against scikit-learn: confusion matrices, get_stats, every score and reduction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from jvision.metrics import segmentation as seg


def test_confusion_matrix_honours_mask_and_ignore_index():
  rng = np.random.default_rng(0)
  target = rng.integers(0, 4, (3, 5, 6))
  target[0, 0, :3] = 255
  prediction = rng.integers(0, 4, (3, 5, 6))
  mask = np.array([True, True, False])
  confusion = jax.jit(seg.confusion_matrix, static_argnums=2)(prediction, target, 4, mask)
  keep = (target != 255) & mask[:, None, None]
  expected = skm.confusion_matrix(target[keep], prediction[keep], labels=range(4))
  np.testing.assert_array_equal(confusion, expected)


def test_evaluator_streams_to_the_one_shot_scores():
  rng = np.random.default_rng(1)
  target = rng.integers(0, 3, (6, 4, 4))
  prediction = np.where(rng.random((6, 4, 4)) < 0.7, target, rng.integers(0, 3, (6, 4, 4)))
  evaluator = seg.ConfusionMatrixEvaluator()
  for start in (0, 2, 4):  # Three batches.
    evaluator.add({"confusion": seg.confusion_matrix(prediction[start:start + 2], target[start:start + 2], 3),
                   "loss": 1.5, "count": 2.0})
  result = evaluator.result()
  iou = skm.jaccard_score(target.ravel(), prediction.ravel(), average=None)
  assert result["miou"] == pytest.approx(iou.mean())
  assert result["pixel_accuracy"] == pytest.approx(skm.accuracy_score(target.ravel(), prediction.ravel()))
  assert result["iou/class_2"] == pytest.approx(iou[2])
  assert result["loss"] == pytest.approx(0.75)


def test_absent_class_is_left_out_of_the_mean():
  confusion = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
  scores = seg.scores_from_confusion(confusion)
  assert scores["miou"] == pytest.approx((3 / 4 + 2 / 3) / 2)
  assert np.isnan(scores["iou/class_2"])


def _sklearn_stats(prediction, target, num_classes):
  """tp, fp, fn, tn [N, C] from scikit-learn's per-class (one-vs-rest) confusion matrices."""
  stats = []
  for p, t in zip(prediction, target):
    m = skm.multilabel_confusion_matrix(t.ravel(), p.ravel(), labels=range(num_classes))  # [[tn, fp], [fn, tp]]
    stats.append(np.stack([m[:, 1, 1], m[:, 0, 1], m[:, 1, 0], m[:, 0, 0]]))
  return np.stack(stats, axis=-1).transpose(0, 2, 1)  # [4, N, C]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_get_stats_and_scores_match_sklearn(seed):
  rng = np.random.default_rng(seed)
  n, c = 4, 3
  target = rng.integers(0, c, (n, 6, 5))
  prediction = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, c, target.shape))
  tp, fp, fn, tn = seg.get_stats(jnp.asarray(prediction), jnp.asarray(target), "multiclass", num_classes=c)
  np.testing.assert_array_equal(np.stack([tp, fp, fn, tn]), _sklearn_stats(prediction, target, c))
  y, p = target.ravel(), prediction.ravel()
  kw = dict(zero_division=1.0)
  # micro: every image and class pooled.
  assert seg.iou_score(tp, fp, fn, tn, "micro") == pytest.approx(skm.jaccard_score(y, p, average="micro"))
  assert seg.f1_score(tp, fp, fn, tn, "micro") == pytest.approx(skm.f1_score(y, p, average="micro"))
  # macro: per class over the dataset, then mean.
  for ours, theirs in [(seg.iou_score, skm.jaccard_score), (seg.f1_score, skm.f1_score),
                       (seg.precision, skm.precision_score), (seg.recall, skm.recall_score)]:
    assert ours(tp, fp, fn, tn, "macro") == pytest.approx(theirs(y, p, average="macro", **kw), rel=1e-6)
  assert seg.fbeta_score(tp, fp, fn, tn, beta=2.0, reduction="macro") == pytest.approx(
      skm.fbeta_score(y, p, beta=2.0, average="macro"), rel=1e-6)
  # weighted by class support = sklearn's "weighted".
  support = np.bincount(y, minlength=c)
  assert seg.iou_score(tp, fp, fn, tn, "weighted", class_weights=support) == pytest.approx(
      skm.jaccard_score(y, p, average="weighted"), rel=1e-6)
  # Per class one-vs-rest accuracy, specificity, balanced accuracy (sklearn on binarised labels).
  per_class = seg.accuracy(tp, fp, fn, tn, "macro")
  assert per_class == pytest.approx(np.mean([skm.accuracy_score(y == k, p == k) for k in range(c)]))
  spec = np.mean([skm.recall_score(y != k, p != k) for k in range(c)])
  assert seg.specificity(tp, fp, fn, tn, "macro") == pytest.approx(spec)
  balanced = np.mean([skm.balanced_accuracy_score(y == k, p == k) for k in range(c)])
  assert seg.balanced_accuracy(tp, fp, fn, tn, "macro") == pytest.approx(balanced)
  # Imagewise: the same per image, then the mean over images.
  images = [(t.ravel(), q.ravel()) for t, q in zip(target, prediction)]
  assert seg.iou_score(tp, fp, fn, tn, "micro-imagewise") == pytest.approx(
      np.mean([skm.jaccard_score(t, q, average="micro") for t, q in images]))
  per_image = np.array([skm.jaccard_score(t, q, average=None, labels=range(c), **kw) for t, q in images])
  assert seg.iou_score(tp, fp, fn, tn, "macro-imagewise") == pytest.approx(per_image.mean(), rel=1e-6)
  np.testing.assert_allclose(seg.iou_score(tp, fp, fn, tn, "none"), per_image, rtol=1e-6)
  weights = np.array([1.0, 2.0, 3.0])
  assert seg.iou_score(tp, fp, fn, tn, "weighted-imagewise", class_weights=weights) == pytest.approx(
      np.sum(per_image.mean(0) * weights / weights.sum()), rel=1e-6)


def test_binary_and_multilabel_with_threshold_and_ignore():
  rng = np.random.default_rng(3)
  target = rng.integers(0, 2, (3, 4, 4, 2))
  target[0, 0, 0, 1] = -1  # ignored
  scores = rng.random((3, 4, 4, 2))
  tp, fp, fn, tn = seg.get_stats(jnp.asarray(scores), jnp.asarray(target), "multilabel", threshold=0.5,
                                 ignore_index=-1)
  for image in range(3):
    for channel in range(2):
      t, s = target[image, ..., channel].ravel(), scores[image, ..., channel].ravel()
      keep = t != -1
      m = skm.confusion_matrix(t[keep], s[keep] >= 0.5, labels=[0, 1])
      assert (tn[image, channel], fp[image, channel], fn[image, channel], tp[image, channel]) == tuple(m.ravel())
  with pytest.raises(ValueError, match=r"mode 'binary' expects \[N, ..., 1\]"):
    seg.get_stats(jnp.asarray(scores), jnp.asarray(target), "binary", threshold=0.5)
  with pytest.raises(ValueError, match="needs a threshold"):
    seg.get_stats(jnp.asarray(scores), jnp.asarray(target), "multilabel")


def test_zero_division_and_errors():
  zeros = jnp.zeros((1, 2), jnp.int32)
  tn = jnp.array([[5, 5]], jnp.int32)
  assert float(seg.iou_score(zeros, zeros, zeros, tn, "macro", zero_division=0.0)) == 0.0
  assert float(seg.iou_score(zeros, zeros, zeros, tn, "macro")) == 1.0
  with pytest.raises(ValueError, match="needs class_weights"):
    seg.iou_score(zeros, zeros, zeros, tn, "weighted")
  with pytest.raises(ValueError, match="unknown reduction 'mean'"):
    seg.iou_score(zeros, zeros, zeros, tn, "mean")
  with pytest.raises(ValueError, match="needs num_classes"):
    seg.get_stats(jnp.zeros((1, 2), jnp.int32), jnp.zeros((1, 2), jnp.int32), "multiclass")
