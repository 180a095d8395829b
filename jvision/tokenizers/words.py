"""A small built-in word-level vocabulary for the embedded ``shapes`` captions and the zero-shot prompts.

Texts are lower-cased and split on anything that is not a letter or a digit; words outside the vocabulary map
to ``<unk>``. Ids: 0 ``<pad>``, 1 ``<unk>``, 2 ``<start_of_text>``, the words, and ``<end_of_text>`` last (the
largest id, which CLIP's text encoder pools at).
"""

from __future__ import annotations

import re
from typing import Sequence, Union

import numpy as np

from jvision.data import shapes_scenes
from jvision.tokenizers import as_text_list, pack

_GENERAL_WORDS = (
    "a", "an", "the", "in", "of", "on", "to", "and", "with", "is", "it", "this", "that", "there", "one", "two",
    "three", "four", "five", "six", "seven", "eight", "nine", "ten", "more", "shape", "shapes", "empty", "scene",
    "above", "below", "left", "right", "top", "bottom", "middle", "centre", "center", "photo", "picture",
    "image", "drawing", "rendering", "small", "medium", "large", "big", "little", "object", "colour", "color",
)


def builtin_words() -> tuple[str, ...]:
  """The built-in vocabulary's words (no special tokens), in id order."""
  words = list(_GENERAL_WORDS)
  for name in (*shapes_scenes.CLASS_NAMES, *shapes_scenes.COLOUR_NAMES, *shapes_scenes.SIZE_NAMES):
    if name not in words:
      words.append(name)
  return tuple(words)


class WordTokenizer:
  """Word-level tokenizer over ``words`` (default: ``builtin_words()``)."""

  PAD, UNK, START = "<pad>", "<unk>", "<start_of_text>"
  END = "<end_of_text>"

  def __init__(self, words: Sequence[str] = ()):
    words = tuple(words) or builtin_words()
    if len(set(words)) != len(words):
      raise ValueError("WordTokenizer words must be unique")
    self.vocab = (self.PAD, self.UNK, self.START, *words, self.END)
    self.ids = {word: i for i, word in enumerate(self.vocab)}
    self.pad_id, self.unk_id, self.start_id, self.end_id = 0, 1, 2, len(self.vocab) - 1

  @property
  def vocab_size(self) -> int:
    return len(self.vocab)

  def encode(self, text: str) -> list[int]:
    """Word ids of ``text`` (no start/end tokens)."""
    return [self.ids.get(word, self.unk_id) for word in re.findall(r"[a-z0-9]+", text.lower())]

  def decode(self, ids: Sequence[int]) -> str:
    return " ".join(self.vocab[i] for i in ids if i not in (self.pad_id, self.start_id, self.end_id))

  def tokenize(self, texts: Union[str, bytes, Sequence], context_length: int = 77) -> np.ndarray:
    """Texts -> ``[N, context_length]`` int32 ids (see ``jvision.tokenizers``)."""
    return pack([self.encode(t) for t in as_text_list(texts)], self.start_id, self.end_id, context_length)

  __call__ = tokenize
