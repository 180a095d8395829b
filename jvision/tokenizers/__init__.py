"""Tokenizers for CLIP's text encoder: token ids ``[N, context_length]`` int32, padded with 0.

- ``ClipBPETokenizer`` (``bpe.py``): OpenAI CLIP's byte-level BPE, read from the user's merges file
  (``bpe_simple_vocab_16e6.txt[.gz]``); vocabulary of 49408 with start/end-of-text ids 49406/49407.
- ``WordTokenizer`` (``words.py``): a small built-in word vocabulary covering the embedded ``shapes`` captions
  and the zero-shot prompts, for experiments that train the text encoder from scratch.

Both share ``encode(text) -> list[int]`` (no special tokens) and ``tokenize(texts, context_length)``: start
token, ids, end token, zeros after; a text too long is truncated and still ends with the end token. The end
token has the largest id of the vocabulary, so a model finds it with ``argmax`` (as OpenAI's CLIP does).
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from jvision import registry

TOKENIZERS = {
    "clip_bpe": "jvision.tokenizers.bpe:ClipBPETokenizer",
    "words": "jvision.tokenizers.words:WordTokenizer",
}


def get_tokenizer(name: str, **kwargs):
  """The tokenizer registered as ``name`` built with ``kwargs`` (``clip_bpe`` needs ``merges_path``)."""
  return registry.lookup("tokenizer", TOKENIZERS, name)(**kwargs)


def pack(ids: Sequence[Sequence[int]], start: int, end: int, context_length: int) -> np.ndarray:
  """Token id lists -> ``[N, context_length]`` int32: ``start, ids..., end, 0...``; truncated keeping ``end``."""
  if context_length < 2:
    raise ValueError(f"context_length must be at least 2 (start and end tokens), got {context_length}")
  out = np.zeros((len(ids), context_length), np.int32)
  for row, text_ids in enumerate(ids):
    tokens = [start, *text_ids, end]
    if len(tokens) > context_length:
      tokens = tokens[:context_length - 1] + [end]
    out[row, :len(tokens)] = tokens
  return out


def as_text_list(texts: Union[str, bytes, Sequence]) -> list[str]:
  """A string, bytes, or a sequence (list, numpy array) of them -> list of str."""
  if isinstance(texts, (str, bytes)):
    texts = [texts]
  out = []
  for text in texts:
    if isinstance(text, (bytes, np.bytes_)):
      text = text.decode("utf-8")
    if not isinstance(text, str):
      raise TypeError(f"tokenizers take str or bytes texts, got {type(text).__name__}")
    out.append(text)
  return out
