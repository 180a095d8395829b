"""Tests for jvision/tta/merge_modes.py against numpy, on negative logits (NaN in ttach, its issue #4)."""

import chex
import numpy as np
import pytest

from jvision.tta import merge_modes


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


LOGITS = np.random.RandomState(0).uniform(-8, -1, (5, 3, 4)).astype(np.float32)  # [A, B, K], all negative


@pytest.mark.parametrize("mode,reference", [
    ("mean", lambda x: x.mean(0)), ("sum", lambda x: x.sum(0)), ("max", lambda x: x.max(0)),
    ("min", lambda x: x.min(0)),
    ("gmean", lambda x: np.log(np.prod(_softmax(x.astype(np.float64)), axis=0) ** (1 / x.shape[0]))),
    ("tsharpen", lambda x: np.log(np.mean(_softmax(x.astype(np.float64)) ** 0.5, axis=0)))])
def test_merge_matches_numpy_without_nan_on_negative_logits(mode, reference):
  got = merge_modes.merge(LOGITS, mode)
  chex.assert_tree_all_finite(got)
  chex.assert_trees_all_close(got, reference(LOGITS), atol=1e-5, rtol=1e-5)


def test_gmean_and_tsharpen_of_one_channel_use_the_sigmoid():
  x = np.array([[-3.0], [-1.0], [2.0]], np.float32)[:, None]  # [A=3, B=1, 1]
  sigmoid = 1 / (1 + np.exp(-x.astype(np.float64)))
  chex.assert_trees_all_close(merge_modes.merge(x, "gmean"), np.log(sigmoid).mean(0), atol=1e-6)
  chex.assert_trees_all_close(merge_modes.merge(x, "tsharpen"), np.log(np.mean(sigmoid ** 0.5, 0)), atol=1e-6)


def test_gmean_ranks_like_the_geometric_mean_of_probabilities_for_masks():
  masks = np.random.RandomState(1).randn(4, 2, 3, 3, 5).astype(np.float32) * 10  # [A, B, H, W, K]
  geometric = np.prod(_softmax(masks.astype(np.float64)), axis=0) ** 0.25
  np.testing.assert_array_equal(np.argmax(merge_modes.merge(masks, "gmean"), -1), np.argmax(geometric, -1))


def test_unknown_mode_is_named():
  with pytest.raises(ValueError, match="unknown merge mode 'median'; known: mean, gmean"):
    merge_modes.merge(LOGITS, "median")
