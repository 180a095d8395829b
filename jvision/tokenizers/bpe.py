"""OpenAI CLIP's byte-level BPE tokenizer (Radford et al. 2021, Sec. 2.4; Sennrich et al. 2016 BPE over the
bytes of UTF-8 text, as in GPT-2).

Reads the merges file OpenAI ships (``bpe_simple_vocab_16e6.txt.gz``: a header line, then one merge "a b" per
line, of which CLIP uses the first 48894). The vocabulary is the 256 byte symbols, the same with the end-of-word
marker ``</w>``, one symbol per merge, then ``<|startoftext|>`` and ``<|endoftext|>`` (49406, 49407 for the
standard file). Text is cleaned (``ftfy.fix_text`` when ftfy is installed, HTML entities unescaped twice,
whitespace collapsed), lower-cased and split into words, numbers and punctuation before BPE.
"""

from __future__ import annotations

import functools
import gzip
import html
import os
from typing import Sequence, Union

import numpy as np
import regex

from jvision.tokenizers import as_text_list, pack

START, END = "<|startoftext|>", "<|endoftext|>"
# Merges CLIP uses from its file: vocabulary 49408 = 2 * 256 + 48894 + 2.
NUM_CLIP_MERGES = 49152 - 256 - 2
_SPLIT = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"""
                       r"""[^\s\p{L}\p{N}]+""", regex.IGNORECASE)


@functools.lru_cache(None)
def bytes_to_unicode() -> dict[int, str]:
  """A reversible byte -> printable character map: printable Latin-1 bytes map to themselves, the others to
  characters from 256 upwards (GPT-2's table, which CLIP reuses). The dict's order (printable bytes first) is
  the order of the first 256 vocabulary ids."""
  printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
               + list(range(ord("®"), ord("ÿ") + 1)))
  table = {b: chr(b) for b in printable}
  others = [b for b in range(256) if b not in table]
  table.update({b: chr(256 + n) for n, b in enumerate(others)})
  return table


def clean_text(text: str) -> str:
  """ftfy (if installed), HTML unescape (twice), collapsed whitespace, lower case."""
  try:
    import ftfy  # Optional, as in OpenAI's tokenizer; the shapes and test texts need no fixing.
    text = ftfy.fix_text(text)
  except ImportError:
    pass
  text = html.unescape(html.unescape(text))
  return regex.sub(r"\s+", " ", text).strip().lower()


def read_merges(path: str, max_merges: int = NUM_CLIP_MERGES) -> list[tuple[str, str]]:
  """The merge pairs of a (gzipped or plain) merges file, header line skipped."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"CLIP BPE merges file {path!r} does not exist (OpenAI's "
                            "bpe_simple_vocab_16e6.txt.gz; pass its path as merges_path)")
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rt", encoding="utf-8") as f:
    lines = f.read().split("\n")[1:max_merges + 1]
  merges = []
  for number, line in enumerate(lines, start=2):
    if not line.strip():
      continue
    parts = line.split()
    if len(parts) != 2:
      raise ValueError(f"{path} line {number}: a merge is two symbols separated by a space, got {line!r}")
    merges.append((parts[0], parts[1]))
  return merges


class ClipBPETokenizer:
  """CLIP's tokenizer: ``tokenize(texts, context_length=77)`` -> ``[N, context_length]`` int32."""

  def __init__(self, merges_path: str = "", merges: Sequence[tuple[str, str]] = ()):
    if not merges:
      if not merges_path:
        raise ValueError("ClipBPETokenizer needs merges_path (OpenAI's bpe_simple_vocab_16e6.txt.gz) or merges")
      merges = read_merges(merges_path)
    self.byte_encoder = bytes_to_unicode()
    self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
    symbols = list(self.byte_encoder.values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(pair) for pair in merges] + [START, END]
    self.encoder = {token: i for i, token in enumerate(vocab)}
    self.decoder = dict(enumerate(vocab))
    self.ranks = {tuple(pair): rank for rank, pair in enumerate(merges)}
    self.start_id, self.end_id = self.encoder[START], self.encoder[END]
    self._cache = {START: START, END: END}

  @property
  def vocab_size(self) -> int:
    return len(self.decoder)

  def bpe(self, token: str) -> str:
    """Space-separated BPE symbols of one pre-tokenized word (its byte characters)."""
    if token in self._cache:
      return self._cache[token]
    word = tuple(token[:-1]) + (token[-1] + "</w>",)
    while len(word) > 1:
      pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
      best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
      if best not in self.ranks:
        break
      merged, i = [], 0
      while i < len(word):
        if i < len(word) - 1 and (word[i], word[i + 1]) == best:
          merged.append(word[i] + word[i + 1])
          i += 2
        else:
          merged.append(word[i])
          i += 1
      word = tuple(merged)
    result = " ".join(word)
    self._cache[token] = result
    return result

  def encode(self, text: str) -> list[int]:
    """Token ids of ``text`` without start/end tokens."""
    ids = []
    for piece in _SPLIT.findall(clean_text(text)):
      piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
      ids.extend(self.encoder[symbol] for symbol in self.bpe(piece).split(" "))
    return ids

  def decode(self, ids: Sequence[int]) -> str:
    """Ids -> text (words separated by single spaces; start/end tokens dropped)."""
    text = "".join(self.decoder[int(i)] for i in ids if int(i) not in (self.start_id, self.end_id))
    text = bytearray(self.byte_decoder[c] for c in text).decode("utf-8", errors="replace")
    return text.replace("</w>", " ").strip()

  def tokenize(self, texts: Union[str, bytes, Sequence], context_length: int = 77) -> np.ndarray:
    """Texts -> ``[N, context_length]`` int32 (start, ids, end, zeros; truncated keeping the end token)."""
    return pack([self.encode(t) for t in as_text_list(texts)], self.start_id, self.end_id, context_length)

  __call__ = tokenize
