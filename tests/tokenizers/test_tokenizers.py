"""BPE and word tokenizers: hand-worked merges, packing and truncation, the built-in vocabulary on captions."""

import gzip

import numpy as np
import pytest

from jvision import tokenizers
from jvision.data import shapes_scenes
from jvision.tokenizers.bpe import ClipBPETokenizer, bytes_to_unicode, clean_text
from jvision.tokenizers.words import WordTokenizer

MERGES = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o</w>")]


def test_byte_table_is_a_bijection_keeping_printables():
  table = bytes_to_unicode()
  assert len(set(table.values())) == 256
  assert table[ord("a")] == "a" and table[ord("!")] == "!"
  assert table[ord(" ")] == chr(256 + 32)  # Bytes 0..32 are the first 33 remapped ones.


def test_bpe_merges_by_rank_hand_worked():
  tok = ClipBPETokenizer(merges=MERGES)
  # 256 bytes + 256 with </w>, then one id per merge, then start and end.
  assert tok.vocab_size == 512 + len(MERGES) + 2
  assert (tok.start_id, tok.end_id) == (516, 517)
  # "hello": h e l l o</w> -> he l l o</w> -> he ll o</w> -> hell o</w> -> hello</w> (merge 3 -> id 515).
  assert tok.encode("hello") == [515]
  # "hole": h o l e</w> -> no pair ranked -> four symbols.
  table = bytes_to_unicode()
  assert tok.encode("hole") == [ord("h") - 33, ord("o") - 33, ord("l") - 33, 256 + ord("e") - 33]
  assert table[ord("h")] == "h"
  # "hell": h e l l</w> -> he l l</w> (("l", "l</w>") is not a merge).
  assert tok.encode("hell") == [512, ord("l") - 33, 256 + ord("l") - 33]
  assert tok.decode(tok.encode("Hello, hole!")) == "hello , hole !"


def test_cleaning_and_packing():
  assert clean_text("  A&amp;amp;B\n\tC  ") == "a&b c"
  tok = ClipBPETokenizer(merges=MERGES)
  packed = tok.tokenize(["hello hello hello", "hello"], context_length=4)
  np.testing.assert_array_equal(packed, [[516, 515, 515, 517], [516, 515, 517, 0]])
  assert packed.dtype == np.int32
  with pytest.raises(ValueError, match="context_length"):
    tok.tokenize("hello", context_length=1)


def test_reads_gzipped_merges_file(tmp_path):
  path = tmp_path / "merges.txt.gz"
  with gzip.open(path, "wt") as f:
    f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in MERGES) + "\n")
  tok = tokenizers.get_tokenizer("clip_bpe", merges_path=str(path))
  assert tok.encode("hello") == [515]
  with pytest.raises(FileNotFoundError, match="bpe_simple_vocab"):
    ClipBPETokenizer(merges_path=str(tmp_path / "missing.gz"))


def test_word_tokenizer_covers_shapes_captions():
  tok = WordTokenizer()
  rng = np.random.default_rng(0)
  for _ in range(20):
    scene = shapes_scenes.generate_scene(rng, 64, 1, 3)
    caption = scene.caption
    ids = tok.encode(caption)
    assert tok.unk_id not in ids, caption
    assert tok.decode(ids) == caption
  row = tok.tokenize(b"a red star", 6)[0]
  np.testing.assert_array_equal(row, [2, tok.ids["a"], tok.ids["red"], tok.ids["star"], tok.end_id, 0])
  assert tok.end_id == tok.vocab_size - 1 == row.max()  # The end token is found by argmax.
  assert tok.encode("a purple blob") == [tok.ids["a"], tok.unk_id, tok.unk_id]
  with pytest.raises(KeyError, match="unknown tokenizer 'sentencepiece'"):
    tokenizers.get_tokenizer("sentencepiece")
