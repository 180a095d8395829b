"""The generic trainer: sharding, exact resume across processes, NaN guard, outputs in the workdir."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision import checkpointing, config as config_lib, metric_writers, train

from run_helpers import CONFIG, REPO, TINY, final_params, run_cli, tiny_config


@pytest.mark.heavy
def test_sharded_over_8_devices_equals_1_device(tmp_path):
  assert jax.device_count() == 8
  config = tiny_config("total_steps=5", "model.dropout_rate=0.0")
  train.train_and_evaluate(config, str(tmp_path / "eight"), progress=False)
  train.train_and_evaluate(config, str(tmp_path / "one"), devices=jax.devices()[:1], progress=False)
  # Same math, different reduction order across devices: equal to float32 round-off after 5 steps.
  chex.assert_trees_all_close(final_params(tmp_path / "eight", 5), final_params(tmp_path / "one", 5),
                              rtol=1e-4, atol=1e-5)


@pytest.mark.heavy
def test_stopped_then_killed_run_resumes_in_fresh_processes_bitwise_exact(tmp_path):
  """One run, three processes: pre-empted at a step boundary (``--stop_after_steps``), resumed by a fresh
  process that is SIGKILLed at an arbitrary point (possibly mid-save), resumed again by a third: its final
  parameters are the uninterrupted run's, bit for bit."""
  straight, run = str(tmp_path / "straight"), str(tmp_path / "run")
  steps = "--config.total_steps=20"
  # How often a run saves does not change its trajectory: the reference saves once, the others every 5 steps
  # (and the process to be killed every step, so that the kill can land during a save).
  every_5 = "--config.checkpoint_every_steps=5"
  train.train_and_evaluate(tiny_config("total_steps=20", "checkpoint_every_steps=20"), straight, progress=False)
  reference = final_params(straight, 20)

  result = run_cli(run, steps, every_5, "--stop_after_steps", "7")
  assert result.returncode == 0, result.stderr[-3000:]
  checkpoints = os.path.join(run, "checkpoints")
  assert max(int(s) for s in os.listdir(checkpoints) if s.isdigit()) == 7

  # A fresh process picks up step 7 from the workdir and is killed once it has saved step 10 or later.
  command = [sys.executable, "-m", "jvision.train", "--config", CONFIG, "--workdir", run,
             *[f"--config.{o}" for o in TINY], steps, "--config.async_checkpoints=true"]
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 600
  while time.time() < deadline and process.poll() is None:
    if any(s.isdigit() and int(s) >= 10 for s in os.listdir(checkpoints)):
      break
    time.sleep(0.05)
  assert process.poll() is None, "the run ended before it could be killed"
  process.send_signal(signal.SIGKILL)
  process.wait()
  # The metrics of the resumed process continued at step 8: every step from 1 to the kill logged once.
  logged_step = lambda: [r["step"] for r in metric_writers.read_metrics(run) if "train/loss" in r]
  before_kill = logged_step()
  assert len(before_kill) >= 10 and before_kill == list(range(1, len(before_kill) + 1)), before_kill
  restored = max(int(s) for s in os.listdir(checkpoints) if s.isdigit())

  result = run_cli(run, steps, every_5)
  assert result.returncode == 0, result.stderr[-3000:]
  assert re.search(r"final: step 20, accuracy \d\.\d+", result.stdout), result.stdout
  jax.tree.map(np.testing.assert_array_equal, final_params(run, 20), reference)
  # The third process logged every step after the checkpoint it restored, once.
  assert logged_step() == before_kill + list(range(restored + 1, 21))


@pytest.mark.heavy
def test_workdir_outputs_and_cli_summary(tmp_path):
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(tiny_config(), workdir, config_path=CONFIG, progress=False)
  assert set(os.listdir(workdir)) >= {"checkpoints", "config.json", "config.py", "metrics.jsonl",
                                      "summary.json", "tensorboard"}
  assert json.load(open(os.path.join(workdir, "config.json")))["total_steps"] == 10
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  train_records = [r for r in records if "train/loss" in r]
  assert [r["step"] for r in train_records] == list(range(1, 11))
  for r in train_records:
    assert {"train/learning_rate", "train/images_per_second", "train/grad_norm"} <= set(r)
  # Linear warm-up over 2 steps then cosine: the logged rate is the schedule's.
  lr = [r["train/learning_rate"] for r in train_records]
  np.testing.assert_allclose(lr[:3], [0.0, 1.5e-3, 3e-3], rtol=1e-6)
  assert os.listdir(os.path.join(workdir, "tensorboard"))
  assert summary["step"] == 10 and 0.0 <= summary["eval/accuracy"] <= 1.0
  # Keep-N: only the 2 newest checkpoints stay.
  assert sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit()) == [9, 10]
  # evaluate.py re-evaluates the latest checkpoint to the same numbers.
  from jvision import evaluate
  again = evaluate.evaluate_checkpoint(tiny_config(), workdir)
  assert again["step"] == 10
  np.testing.assert_allclose(again["eval/accuracy"], summary["eval/accuracy"])


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
  workdir = str(tmp_path / "nan")
  config = tiny_config("optimizer.name=sgd", "optimizer.learning_rate=1e30", "schedule.warmup_steps=0",
                       "schedule.name=constant", "keep_checkpoints=20")
  with pytest.raises(FloatingPointError, match=r"non-finite loss or gradient at step (\d+)") as info:
    train.train_and_evaluate(config, workdir, progress=False)
  bad_step = int(re.search(r"at step (\d+)", str(info.value)).group(1))
  saved = sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())
  # Step s (0-based) is checkpoint s + 1; nothing at or after the bad step was saved, and what was is finite.
  assert saved == list(range(1, bad_step + 1))
  if saved:
    for leaf in jax.tree.leaves(final_params(workdir, saved[-1])):
      assert np.all(np.isfinite(leaf))


def test_train_step_freezes_state_from_first_nonfinite_batch():
  config = tiny_config()
  exp = train.build_experiment(config, devices=jax.devices()[:1])
  state = train.create_train_state(exp, jax.random.PRNGKey(0))
  batch = {"image": jnp.ones((4, 8, 8, 1)), "label": jnp.arange(4, dtype=jnp.int32)}
  step = jax.jit(lambda s, b: train.train_step(s, b, task=exp.task))
  state, _ = step(state, batch)
  good = state
  state, _ = step(state, {**batch, "image": batch["image"].at[0, 0, 0, 0].set(jnp.nan)})
  state, _ = step(state, batch)  # A later finite batch does not resume training either.
  assert int(state.nonfinite_step) == 1 and int(state.step) == 3
  chex.assert_trees_all_equal(state.params, good.params)
  chex.assert_trees_all_equal(state.opt_state, good.opt_state)


def test_batch_size_must_divide_over_devices():
  with pytest.raises(config_lib.ConfigError, match="'batch_size' \\(36\\) must be divisible .* \\(8\\) times 'grad_accum_steps' \\(1\\)"):
    train.build_experiment(tiny_config("batch_size=36"))


def test_cli_rejects_unknown_arguments(tmp_path):
  result = run_cli(str(tmp_path), "--epochs=3")
  assert result.returncode != 0 and "unrecognized arguments: --epochs=3" in result.stderr


def test_bfloat16_compute_trains_with_float32_state(tmp_path):
  losses = {}
  for dtype in ("float32", "bfloat16"):
    workdir = str(tmp_path / dtype)
    train.train_and_evaluate(tiny_config(f"dtype={dtype}", "total_steps=3", "model.dropout_rate=0.0"),
                             workdir, progress=False)
    state = checkpointing.load_state(os.path.join(workdir, "checkpoints"), 3)
    assert all(x.dtype == np.float32 for x in jax.tree.leaves(state["params"]))
    assert all(x.dtype == np.float32 for x in jax.tree.leaves(state["opt_state"]) if x.dtype.kind == "f")
    records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    losses[dtype] = [r["train/loss"] for r in records if "train/loss" in r]
  # Same data and init: bfloat16 (8-bit mantissa) losses track float32 to about 1%.
  np.testing.assert_allclose(losses["bfloat16"], losses["float32"], rtol=3e-2)
  assert losses["bfloat16"] != losses["float32"]  # The compute dtype really changed.


def test_gradient_accumulation_equals_the_whole_batch_step():
  config = tiny_config("model.batch_norm=false", "model.dropout_rate=0.0")
  exp = train.build_experiment(config)
  state = train.create_train_state(exp, jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.normal(size=(32, 8, 8, 1)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 10, 32), jnp.int32)}
  whole, whole_metrics = jax.jit(lambda s, b: train.train_step(s, b, task=exp.task))(state, batch)
  for accum in (2, 4):
    micro, micro_metrics = jax.jit(lambda s, b: train.train_step(s, b, task=exp.task, accum_steps=accum))(
        state, batch)
    chex.assert_trees_all_close(micro.params, whole.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(micro_metrics["loss"], whole_metrics["loss"], rtol=1e-5)
  with pytest.raises(config_lib.ConfigError, match=r"times 'grad_accum_steps' \(3\)"):
    train.build_experiment(tiny_config("grad_accum_steps=3"))
