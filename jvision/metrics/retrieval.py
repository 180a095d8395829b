"""Cross-modal retrieval recall@K (as reported for Flickr30k/COCO by CLIP, Radford et al. 2021, Table 13).

A query is a hit at K when at least one of its positives is among the K most similar candidates. Positives are
a boolean matrix, so an image with several captions (COCO's five) or several images sharing one caption text
(the ``shapes`` captions) are handled the same way.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def recall_at_k(similarity: np.ndarray, positives: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
  """Fraction of queries (rows) with a positive among their top-K columns, for each K.

  Args:
    similarity: float ``[Q, C]``, larger is more similar.
    positives: bool ``[Q, C]``; each row needs at least one positive.
  Ties are broken by column order (stable sort).
  """
  similarity, positives = np.asarray(similarity), np.asarray(positives, bool)
  if similarity.ndim != 2 or similarity.shape != positives.shape:
    raise ValueError(f"similarity and positives must be one [Q, C] shape; got {similarity.shape}, "
                     f"{positives.shape}")
  if not positives.any(axis=1).all():
    raise ValueError("every query needs at least one positive candidate")
  order = np.argsort(-similarity, axis=1, kind="stable")
  ranked = np.take_along_axis(positives, order, axis=1)
  first_hit = np.argmax(ranked, axis=1)  # 0-based rank of the best-ranked positive.
  return {k: float(np.mean(first_hit < k)) for k in ks}


class RetrievalEvaluator:
  """Collects normalized image and text embeddings (and token ids, which decide which texts are equal) over
  padded batches; ``result()`` gives image->text and text->image recall@1/5 with equal texts merged."""

  def __init__(self, ks: Sequence[int] = (1, 5)):
    self.ks = tuple(ks)
    self._images, self._texts, self._tokens = [], [], []

  def add(self, outputs) -> None:
    mask = np.asarray(outputs["mask"], bool)
    self._images.append(np.asarray(outputs["image"])[mask])
    self._texts.append(np.asarray(outputs["text"])[mask])
    self._tokens.append(np.asarray(outputs["tokens"])[mask])

  def result(self) -> dict[str, float]:
    images, texts = np.concatenate(self._images), np.concatenate(self._texts)
    tokens = np.concatenate(self._tokens)
    return retrieval_metrics(images, texts, tokens, self.ks)


def retrieval_metrics(images: np.ndarray, texts: np.ndarray, tokens: np.ndarray,
                      ks: Sequence[int] = (1, 5)) -> dict[str, float]:
  """Recall of pairs ``(images[i], texts[i])``; texts with the same ``tokens`` row count as one text."""
  unique_tokens, text_index = np.unique(tokens, axis=0, return_inverse=True)
  text_index = text_index.reshape(-1)
  first = np.full(len(unique_tokens), -1)
  for i, u in enumerate(text_index):
    if first[u] < 0:
      first[u] = i
  unique_texts = texts[first]  # Equal token rows give equal embeddings; keep one of each.
  positives = text_index[:, None] == np.arange(len(unique_tokens))[None, :]  # [N images, U texts]
  similarity = images @ unique_texts.T
  out = {f"image_to_text_recall@{k}": v for k, v in recall_at_k(similarity, positives, ks).items()}
  out.update({f"text_to_image_recall@{k}": v for k, v in recall_at_k(similarity.T, positives.T, ks).items()})
  return out
