"""Top-k hits against scikit-learn."""

import chex
import numpy as np
from sklearn.metrics import accuracy_score, top_k_accuracy_score

from jvision.metrics.classification import topk_correct


class TopKTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_sklearn(self):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=200)
    top1 = self.variant(lambda x, y: topk_correct(x, y, 1))(logits, labels)
    np.testing.assert_allclose(np.mean(top1), accuracy_score(labels, logits.argmax(-1)))
    for k in (3, 5):
      hits = self.variant(lambda x, y: topk_correct(x, y, k))(logits, labels)
      np.testing.assert_allclose(np.mean(hits), top_k_accuracy_score(labels, logits, k=k,
                                                                      labels=np.arange(10)))
