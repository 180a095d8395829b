"""Hold attribute combinations out of a training source by the words of its captions.

``exclude_caption_phrases(source, ["red star"])`` keeps the records whose caption contains none of the
phrases (whole words, case and spacing ignored), so a zero-shot evaluation can test combinations never seen together
in training. Set it for a run with ``config.data.train_exclude_phrases``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np


class IndexedSource:
  """Random-access view of ``source`` restricted to ``indices`` (``len`` and ``[i]`` like a data source)."""

  def __init__(self, source: Sequence[Any], indices: Sequence[int]):
    self.source = source
    self.indices = np.asarray(indices, np.int64)

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, index: int):
    return self.source[int(self.indices[index])]


def caption_text(example: dict, caption_key: str = "caption") -> str:
  if caption_key not in example:
    raise KeyError(f"example has no {caption_key!r} key; it has: {', '.join(example)}")
  value = example[caption_key]
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def exclude_caption_phrases(source: Sequence[Any], phrases: Sequence[str],
                            caption_key: str = "caption") -> IndexedSource:
  """The records of ``source`` whose caption contains none of ``phrases`` (reads every record once)."""
  phrases = [" ".join(p.lower().split()) for p in phrases]
  if not phrases or not all(phrases):
    raise ValueError(f"exclude_caption_phrases needs non-empty phrases, got {phrases}")
  pattern = re.compile("|".join(rf"\b{re.escape(p)}\b" for p in phrases))
  normalized = lambda i: " ".join(caption_text(source[i], caption_key).lower().split())
  keep = [i for i in range(len(source)) if not pattern.search(normalized(i))]
  if not keep:
    raise ValueError(f"excluding {phrases} leaves no examples")
  return IndexedSource(source, keep)
