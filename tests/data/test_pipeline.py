"""Grain pipelines: deterministic, resumable, disjoint across processes, exact eval coverage."""

import time

import numpy as np
import pytest

from jvision.data import pipeline

SOURCE = [{"x": np.int64(i), "image": np.full((2, 2, 1), i, np.uint8)} for i in range(50)]


def preprocess(example, rng):
  return {"x": example["x"], "noise": rng.random()}


def take(iterator, n):
  return [next(iterator) for _ in range(n)]


def test_train_stream_is_deterministic_and_reshuffles_each_epoch():
  a = take(iter(pipeline.train_dataset(SOURCE, preprocess, local_batch_size=10, seed=3)), 10)
  b = take(iter(pipeline.train_dataset(SOURCE, preprocess, local_batch_size=10, seed=3)), 10)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x["x"], y["x"])
    np.testing.assert_array_equal(x["noise"], y["noise"])
  epoch1 = np.concatenate([batch["x"] for batch in a[:5]])
  epoch2 = np.concatenate([batch["x"] for batch in a[5:]])
  assert sorted(epoch1) == sorted(epoch2) == list(range(50))  # Each epoch is a permutation...
  assert not np.array_equal(epoch1, epoch2)  # ...and a different one.


def test_iterator_state_restores_the_exact_position():
  dataset = pipeline.train_dataset(SOURCE, preprocess, local_batch_size=8, seed=0)
  iterator = iter(dataset)
  take(iterator, 7)
  state = iterator.get_state()
  expected = take(iterator, 3)
  resumed = iter(dataset)
  resumed.set_state(state)
  for x, y in zip(expected, take(resumed, 3)):
    np.testing.assert_array_equal(x["x"], y["x"])
    np.testing.assert_array_equal(x["noise"], y["noise"])


def test_processes_read_disjoint_slices_of_the_single_process_stream():
  single = take(iter(pipeline.train_dataset(SOURCE, preprocess, local_batch_size=10, seed=1)), 3)
  shards = [take(iter(pipeline.train_dataset(SOURCE, preprocess, local_batch_size=5, seed=1,
                                             process_index=p, process_count=2)), 3) for p in range(2)]
  for step in range(3):
    # Process p holds records p, p + 2, ... of the single-process batch, with the same augmentation draws.
    for p in range(2):
      np.testing.assert_array_equal(shards[p][step]["x"], single[step]["x"][p::2])
      np.testing.assert_array_equal(shards[p][step]["noise"], single[step]["noise"][p::2])


def test_eval_batches_cover_every_example_once_with_padding_masked():
  batches = list(pipeline.eval_batches(SOURCE, lambda e: {"x": e["x"]}, local_batch_size=16))
  assert len(batches) == 4 and all(b["x"].shape == (16,) for b in batches)
  valid = np.concatenate([b["x"][b["mask"]] for b in batches])
  np.testing.assert_array_equal(valid, np.arange(50))
  assert batches[-1]["mask"].sum() == 2


def test_eval_batches_stay_in_lock_step_across_processes():
  counts = [len(list(pipeline.eval_batches(SOURCE, lambda e: {"x": e["x"]}, local_batch_size=8,
                                           process_index=p, process_count=3))) for p in range(3)]
  assert counts == [3, 3, 3]  # ceil(50 / 24) for every process, even with uneven shares.
  seen = np.concatenate([b["x"][b["mask"]] for p in range(3) for b in pipeline.eval_batches(
      SOURCE, lambda e: {"x": e["x"]}, local_batch_size=8, process_index=p, process_count=3)])
  np.testing.assert_array_equal(np.sort(seen), np.arange(50))


def test_too_small_dataset_is_a_clear_error():
  with pytest.raises(ValueError, match="fewer than one global batch"):
    pipeline.train_dataset(SOURCE[:5], preprocess, local_batch_size=8, seed=0)


def test_read_ahead_is_bounded_and_never_changes_the_stream():
  """The threads prepare at most the buffered batches ahead of the consumer (grain's default buffer of 500
  kept every core busy in short runs); the stream is the same for any thread count and buffer."""
  calls = []

  def counting(example, rng):
    calls.append(int(example["x"]))
    return preprocess(example, rng)

  options = pipeline.read_options(num_threads=2, prefetch_batches=3)
  assert (options.num_threads, options.prefetch_buffer_size) == (2, 3)
  iterator = iter(pipeline.train_dataset(SOURCE, counting, local_batch_size=5, seed=2, options=options))
  first = next(iterator)
  time.sleep(0.5)  # Let the threads fill the buffer.
  # The batch taken, the 3 buffered and at most one more in each thread's hands.
  assert len(calls) <= 5 * (1 + 3 + 2)
  default = take(iter(pipeline.train_dataset(SOURCE, preprocess, local_batch_size=5, seed=2)), 4)
  single = take(iter(pipeline.train_dataset(SOURCE, preprocess, local_batch_size=5, seed=2,
                                            options=pipeline.read_options(1, 1))), 4)
  for x, y, z in zip([first, *take(iterator, 3)], default, single):
    np.testing.assert_array_equal(x["noise"], y["noise"])
    np.testing.assert_array_equal(x["noise"], z["noise"])
  for bad in ({"num_threads": 0}, {"num_threads": -1}, {"prefetch_batches": 0}):
    with pytest.raises(ValueError, match="at least one read thread and one prefetched batch"):
      pipeline.read_options(**bad)
