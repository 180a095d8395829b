"""Tests for jvision/proposals/source.py: cached proposals attached to a tiny fake source by image id."""

import json
import os

import numpy as np
import pytest

from jvision.data import adapters
from jvision.proposals import cache
from jvision.proposals import source as proposal_source

# Three cached images, keyed by image id in an order unlike the source's: id 9 has 2 proposals, 5 has 4, 2 none.
BOXES = np.zeros((3, 4, 4), np.int16)
BOXES[0, :2] = [[0, 0, 10, 10], [1, 2, 3, 4]]
BOXES[1] = [[5, 5, 20, 20], [0, 0, 8, 8], [2, 2, 30, 31], [7, 1, 9, 12]]


def tiny_proposals(image_ids=(9, 5, 2)) -> cache.Proposals:
  return cache.Proposals(boxes=BOXES, counts=np.array([2, 4, 0], np.int32),
                         image_ids=np.array(image_ids, np.int64), indices=np.arange(3, dtype=np.int64),
                         image_sizes=np.full((3, 2), 32, np.int32), metadata={"dataset": "tiny", "split": "x"})


def fake_source(image_ids=(5, 2, 9)):
  return [{"image_id": np.int64(i), "image": np.full((32, 32, 3), i, np.uint8)} for i in image_ids]


def test_examples_gain_their_best_ranked_proposals_by_image_id():
  source = fake_source()
  wrapped = proposal_source.with_proposals(source, tiny_proposals(), top_k=3)
  assert len(wrapped) == 3
  first = wrapped[0]  # image id 5: its first 3 of 4 proposals.
  assert first["proposals"].dtype == np.float32 and first["proposals"].shape == (3, 4)
  np.testing.assert_array_equal(first["proposals"], BOXES[1, :3])
  np.testing.assert_array_equal(first["image"], source[0]["image"])  # Other fields pass through.
  assert "proposals" not in source[0]  # The wrapped source is not modified.
  assert wrapped[1]["proposals"].shape == (0, 4)  # Image id 2 has no proposals.
  np.testing.assert_array_equal(wrapped[2]["proposals"], BOXES[0, :2])  # Fewer than top_k: all valid ones.
  everything = proposal_source.with_proposals(source, tiny_proposals())
  np.testing.assert_array_equal(everything[0]["proposals"], BOXES[1])


def test_custom_image_id_and_bad_arguments():
  source = [{"name": b"img5"}, {"name": b"img9"}]
  wrapped = proposal_source.with_proposals(source, tiny_proposals(), top_k=1,
                                           image_id=lambda example, index: int(example["name"][3:]))
  np.testing.assert_array_equal(wrapped[1]["proposals"], BOXES[0, :1])
  with pytest.raises(KeyError, match="no 'image_id' field"):
    proposal_source.with_proposals(source, tiny_proposals())[0]
  with pytest.raises(ValueError, match="top_k"):
    proposal_source.with_proposals(source, tiny_proposals(), top_k=0)


def test_an_uncached_image_id_is_a_key_error():
  wrapped = proposal_source.with_proposals(fake_source((5, 7)), tiny_proposals())
  wrapped[0]
  with pytest.raises(KeyError, match=r"image ids \[7\] have no cached proposals"):
    wrapped[1]


@pytest.mark.parametrize("split, expected", [("train", ("train", None)), ("train[:4000]", ("train", 4000)),
                                             (" test [ : 12 ] ", ("test", 12))])
def test_parse_split(split, expected):
  assert proposal_source.parse_split(split) == expected


@pytest.mark.parametrize("split", ["train[10:20]", "train[:10%]", "train+test", "train[-5:]"])
def test_slices_without_a_cache_are_rejected(split):
  with pytest.raises(ValueError, match="has no proposal cache"):
    proposal_source.parse_split(split)


@pytest.fixture
def cached_dataset(tmp_path, monkeypatch):
  """A fake versioned dataset directory holding the cache of 'train[:3]', and an adapter that reads image_id."""
  builder = type("FakeBuilder", (), {"data_dir": str(tmp_path)})()
  monkeypatch.setattr(cache, "_builder", lambda dataset, data_dir, prepare=False: builder)
  monkeypatch.setattr(adapters, "get_adapter", lambda dataset: lambda example, index: {
      "image_id": int(example["image_id"])})
  path = cache.cache_path(str(tmp_path), "train", max_examples=3)
  os.makedirs(os.path.dirname(path))
  proposals = tiny_proposals()
  np.savez(path, boxes=proposals.boxes, counts=proposals.counts, image_ids=proposals.image_ids,
           indices=proposals.indices, image_sizes=proposals.image_sizes, metadata=np.array(json.dumps({})))
  return path


def test_attach_cached_proposals_reads_the_split_cache(cached_dataset):
  wrapped = proposal_source.attach_cached_proposals(fake_source(), "tiny", "train[:3]", top_k=2)
  np.testing.assert_array_equal(wrapped[0]["proposals"], BOXES[1, :2])
  with pytest.raises(ValueError, match=r"4 examples but its proposal cache only 3.*'train\[:3\]'"):
    proposal_source.attach_cached_proposals(fake_source((5, 2, 9, 1)), "tiny", "train[:3]")
  with pytest.raises(ValueError, match="unknown proposal method 'edge_boxes'"):
    proposal_source.attach_cached_proposals(fake_source(), "tiny", "train[:3]", method="edge_boxes")


def test_a_missing_cache_names_the_command_that_computes_it(cached_dataset):
  with pytest.raises(FileNotFoundError, match="python -m jvision.proposals --dataset tiny --split test --mode fast "
                                              "--max_proposals 2000 --min_size 20 --seed 0"):
    proposal_source.attach_cached_proposals(fake_source(), "tiny", "test")
  with pytest.raises(FileNotFoundError, match="--split train .* --max_examples 5"):
    proposal_source.attach_cached_proposals(fake_source(), "tiny", "train[:5]")
