"""Tests for jvision/ensemble.py: members that each rank half the pairs wrong, an ensemble that ranks all right."""

import itertools

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import linen as nn

from jvision import ensemble, restore, tasks


class PixelModel(nn.Module):
  """Logit = the XRV value of pixel (0, ``column``) / 1024 (times a parameter set to 1)."""
  column: int

  @nn.compact
  def __call__(self, x, train=False):
    w = self.param("w", nn.initializers.ones, (1,))
    return x[:, 0, self.column, :] * w / 1024.0


def make_run(column, pathologies=("Finding",), data_name="toy"):
  config = ml_collections.ConfigDict({"data": {"name": data_name, "eval_split": "test"},
                                      "task": {"name": "multilabel", "pathologies": pathologies}})
  task = tasks.get_task("multilabel", pathologies=pathologies)
  return restore.Run(workdir=f"run{column}", step=1, config=config, model=PixelModel(column), task=task,
                     variables={"params": {"w": np.ones(1, np.float32)}})


def pairwise_auc(scores, labels):
  """P(score of a positive > score of a negative), ties one half: counted over all pairs."""
  pos, neg = scores[labels == 1], scores[labels == 0]
  return np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)])


def test_ensemble_of_two_members_by_hand():
  pixels = [(230, 100), (100, 230), (128, 20), (20, 128), (60, 60)]
  labels = [1, 1, 0, 0, np.nan]  # The last example is unlabelled and must be left out.
  source = []
  for (a, b), label in zip(pixels, labels):
    image = np.zeros((4, 4, 1), np.uint8)
    image[0, 0, 0], image[0, 1, 0] = a, b
    source.append({"image": image, "labels": np.array([label], np.float32)})
  result = ensemble.evaluate_ensemble([make_run(0), make_run(1)], batch_size=3, source=source)
  xrv = lambda p: (2 * np.asarray(p, np.float64) / 255 - 1) * 1024
  sigmoid = lambda v: 1 / (1 + np.exp(-v))
  member_scores = [sigmoid(xrv([p[c] for p in pixels[:4]]) / 1024) for c in (0, 1)]
  y = np.array(labels[:4])
  expected_members = [pairwise_auc(s, y) for s in member_scores]
  assert expected_members == [0.75, 0.75]
  assert [m["auc/Finding"] for m in result["members"]] == pytest.approx(expected_members)
  assert result["ensemble"]["auc/Finding"] == pytest.approx(pairwise_auc(np.mean(member_scores, 0), y)) == 1.0


def test_average_scores_with_weights_and_errors():
  a, b = np.array([[0.2, 0.4]]), np.array([[0.6, 0.0]])
  np.testing.assert_allclose(ensemble.average_scores([a, b]), [[0.4, 0.2]])
  np.testing.assert_allclose(ensemble.average_scores([a, b], weights=[1, 3]), [[0.5, 0.1]])
  with pytest.raises(ValueError, match="differ in shape"):
    ensemble.average_scores([a, np.zeros((2, 2))])
  with pytest.raises(ValueError, match="non-negative weights"):
    ensemble.average_scores([a, b], weights=[1, -1])


def test_incompatible_members_and_member_syntax():
  with pytest.raises(ValueError, match="predicts"):
    ensemble.evaluate_ensemble([make_run(0), make_run(1, pathologies=("Other",))], source=[])
  with pytest.raises(ValueError, match="data.name"):
    ensemble.evaluate_ensemble([make_run(0), make_run(1, data_name="other")], source=[])
  assert ensemble.parse_member("runs/a@400") == ("runs/a", 400)
  assert ensemble.parse_member("runs/a") == ("runs/a", None)
