"""Retrieval recall@K: hand-computed rankings, duplicate texts merged."""

import numpy as np
import pytest

from jvision.metrics.retrieval import RetrievalEvaluator, recall_at_k, retrieval_metrics


def test_recall_hand_computed():
  similarity = np.array([[0.9, 0.1, 0.5],   # positive col 0 ranked 1st
                         [0.9, 0.1, 0.5],   # positive col 1 ranked 3rd
                         [0.2, 0.8, 0.5]])  # positives cols 0, 2: col 2 ranked 2nd
  positives = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]], bool)
  assert recall_at_k(similarity, positives, (1, 2, 3)) == {1: 1 / 3, 2: 2 / 3, 3: 1.0}
  with pytest.raises(ValueError, match="at least one positive"):
    recall_at_k(similarity, np.zeros((3, 3), bool))


def test_duplicate_captions_count_as_one_text():
  images = np.eye(3)
  texts = np.array([[1.0, 0, 0], [0, 0, 1.0], [1.0, 0, 0]])  # Texts 0 and 2 are the same caption.
  tokens = np.array([[5, 1], [6, 1], [5, 1]])
  result = retrieval_metrics(images, texts, tokens, ks=(1,))
  # Image 0 -> its text: hit. Image 1 (e1) ties at 0 with both texts; its text (unique text 1) ranks 2nd.
  # Image 2 (e3) -> unique text 1 first, but its own is unique text 0: miss.
  assert result["image_to_text_recall@1"] == pytest.approx(1 / 3)
  # Text queries (2 unique): "5 1" -> image 0 (positive); "6 1" -> image 2 (not its image 1): miss.
  assert result["text_to_image_recall@1"] == pytest.approx(1 / 2)
  evaluator = RetrievalEvaluator(ks=(1,))
  evaluator.add({"image": np.vstack([images, images[:1]]), "text": np.vstack([texts, texts[:1]]),
                 "tokens": np.vstack([tokens, tokens[:1]]), "mask": np.array([1, 1, 1, 0], bool)})
  assert evaluator.result() == result
