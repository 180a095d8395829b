"""Vectorized decoding of dlib integer streams against integers encoded one by one by an independent writer."""

import numpy as np
import pytest

from jvision.face import int_stream


def test_decodes_random_integers_of_every_width(writer):
  rng = np.random.default_rng(0)
  widths = rng.integers(0, 63, size=20_000)
  values = [int(rng.integers(0, 2**int(w), dtype=np.uint64)) * (1 if rng.random() < 0.5 else -1) for w in widths]
  data = np.frombuffer(b"".join(writer.int(v) for v in values), np.uint8)
  np.testing.assert_array_equal(int_stream.decode_ints(data), np.array(values, np.int64))
  # Small chunks exercise the hand-over between chunks at every offset.
  starts = int_stream.token_starts(data, chunk=9)
  np.testing.assert_array_equal(starts, int_stream.token_starts(data))


def test_bad_streams_raise():
  with pytest.raises(ValueError, match="dlib integers"):
    int_stream.decode_ints(np.frombuffer(b"\x01\x05\x7f\x00\x00", np.uint8))  # 0x7f is no integer header
  with pytest.raises(ValueError, match="truncated"):
    int_stream.decode_ints(np.frombuffer(b"\x01\x05\x04\x01", np.uint8))  # 4 value bytes promised, 1 given
