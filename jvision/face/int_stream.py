"""Fast decoding of dlib's variable-length integer streams (the bulk of its shape-predictor files).

dlib's ``serialize`` writes every integer as a header byte (bit 7: sign, low nibble: byte count) followed by
that many little-endian bytes, and every float as two such integers (mantissa, exponent). A shape predictor
file is nothing but these (33 million of them for the 68-landmark model), so decoding one at a time in Python
takes minutes. Here the token boundaries are found in parallel with numpy: the file is cut into chunks, every
plausible entry offset of every chunk is followed token by token to the chunk's end (all chunks advance
together), the true entry of each chunk is then chained from the file start, and the true chains are walked
once more to mark every token start; the values are then gathered in a few vectorized passes.
"""

from __future__ import annotations

import numpy as np

_MAX_TOKEN = 9  # Header byte + at most 8 value bytes.


def _follow(step: np.ndarray, pos: np.ndarray, end: np.ndarray, mark: np.ndarray | None = None) -> np.ndarray:
  """Advances every cursor token by token until it is at or past its ``end``; optionally marks the starts."""
  out = pos.copy()
  live = np.flatnonzero(out < end)
  while live.size:
    p = out[live]
    if mark is not None:
      mark[p] = True
    p = p + step[p]
    out[live] = p
    keep = p < end[live]
    if not keep.all():
      live = live[keep]
  return out


def token_starts(data: np.ndarray, chunk: int = 4096) -> np.ndarray:
  """Byte offsets ``[T]`` (int64) of the tokens of a stream of dlib integers ``data`` (uint8 ``[N]``)."""
  if chunk < _MAX_TOKEN:
    raise ValueError(f"chunk must be at least {_MAX_TOKEN} bytes (the longest integer), got {chunk}")
  n = data.size
  step = np.ones(n + 16, np.uint8)  # Token length at every byte (small dtype: the files are ~100 MB).
  step[:n] += data & 0x0F
  valid = np.zeros(n + 16, bool)
  valid[:n] = ((data & 0x70) == 0) & ((data & 0x0F) <= 8)
  starts = np.arange(0, n, chunk, dtype=np.int64)
  ends = np.minimum(starts + chunk, n)
  candidates = starts[:, None] + np.arange(_MAX_TOKEN)[None, :]
  plausible = valid[np.minimum(candidates, n + 15)] & (candidates < ends[:, None])
  rows, cols = np.nonzero(plausible)
  exits = np.full(candidates.shape, -1, np.int64)
  exits[rows, cols] = _follow(step, candidates[rows, cols], ends[rows])
  entries = np.empty(len(starts), np.int64)
  position = 0
  for c in range(len(starts)):
    entries[c] = position
    offset = position - starts[c]
    if not 0 <= offset < _MAX_TOKEN or exits[c, offset] < 0:
      raise ValueError(f"not a stream of dlib integers: bad integer header near byte {position}")
    position = exits[c, offset]
  if position != n:
    raise ValueError(f"stream of dlib integers is truncated: last token ends at byte {position} of {n}")
  mark = np.zeros(n + 16, bool)
  _follow(step, entries, ends, mark)
  return np.flatnonzero(mark[:n])


def decode_ints(data: np.ndarray) -> np.ndarray:
  """All integers ``[T]`` (int64) of a byte stream that consists only of dlib-serialized integers."""
  data = np.asarray(data, np.uint8).reshape(-1)
  starts = token_starts(data)
  head = data[starts]
  size = (head & 0x0F).astype(np.int64)
  padded = np.concatenate([data, np.zeros(_MAX_TOKEN, np.uint8)])
  # Every byte position seen as the start of an unaligned little-endian 8-byte word (a view, no copy).
  words = np.ndarray(shape=(data.size + 1,), dtype="<u8", buffer=padded, strides=(1,))
  masks = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)
  values = (words[starts + 1] & masks[size]).astype(np.int64)
  negative = (head & 0x80) != 0
  values[negative] = -values[negative]
  return values
