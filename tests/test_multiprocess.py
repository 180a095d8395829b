"""Two processes on localhost (4 fake CPU devices each, gloo collectives) train like one with 8 devices."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np

from run_helpers import CONFIG, REPO, TINY, final_params, run_cli


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


CLIP_CONFIG = os.path.join(REPO, "experiments", "clip_shapes_vit.py")
# A few steps of a narrow CLIP on shapes/single_64: the contrastive loss gathers embeddings across processes.
# Plain momentum SGD keeps the update linear in the gradient, so the processes' different summation order
# stays at round-off (Adam's first steps divide by tiny second moments and magnify it).
CLIP_TINY = [
    "total_steps=4", "batch_size=32", "model.vision_layers=1", "model.vision_width=32", "log_every_steps=1",
    "eval_every_steps=4", "eval_batch_size=64", "checkpoint_every_steps=2", "schedule.warmup_steps=1",
    "async_checkpoints=false", "optimizer.name=momentum", "optimizer.learning_rate=0.05",
    "data.eval_split=test[:64]", "data.train_exclude_phrases=()",
]


def run_two_processes(workdir, *args, timeout=600, config=CONFIG, overrides=(*TINY, "model.dropout_rate=0.0")):
  port = free_port()
  # Four fake devices per process instead of the suite's eight; the other flags stay.
  env = dict(os.environ, XLA_FLAGS=os.environ["XLA_FLAGS"].replace(
      "--xla_force_host_platform_device_count=8", "--xla_force_host_platform_device_count=4"))
  processes = [subprocess.Popen(
      [sys.executable, "-m", "jvision.train", "--config", config, "--workdir", workdir,
       *[f"--config.{o}" for o in overrides], *args,
       "--coordinator_address", f"localhost:{port}", "--num_processes", "2", "--process_id", str(i)],
      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  outputs = [p.communicate(timeout=timeout) for p in processes]
  for p, (out, err) in zip(processes, outputs):
    assert p.returncode == 0, err[-3000:]
  return [out for out, _ in outputs]


def test_two_processes_match_one_process_and_resume_exactly(tmp_path):
  two, resumed, one = (str(tmp_path / n) for n in ("two", "resumed", "one"))
  outputs = run_two_processes(two)
  # Only process 0 prints the summary and writes metrics.
  assert "final: step 10" in outputs[0] and "final:" not in outputs[1]
  result = run_cli(one, "--config.model.dropout_rate=0.0")
  assert result.returncode == 0, result.stderr[-3000:]
  # Same global batches and math; gloo sums gradients in another order: equal to float32 round-off.
  a, b = final_params(two, 10), final_params(one, 10)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5), a, b)
  # Kill both processes at step 4 (pre-emption), start both again: bitwise the uninterrupted 2-process run.
  run_two_processes(resumed, "--stop_after_steps", "4")
  run_two_processes(resumed)
  jax.tree.map(np.testing.assert_array_equal, final_params(resumed, 10), a)


def test_clip_two_processes_match_one_process(tmp_path):
  """The contrastive loss over a global batch split across two processes equals the one-process loss."""
  two, one = str(tmp_path / "two"), str(tmp_path / "one")
  outputs = run_two_processes(two, config=CLIP_CONFIG, overrides=CLIP_TINY)
  assert "final: step 4" in outputs[0] and "final:" not in outputs[1]
  command = [sys.executable, "-m", "jvision.train", "--config", CLIP_CONFIG, "--workdir", one,
             *[f"--config.{o}" for o in CLIP_TINY]]
  result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)
  assert result.returncode == 0, result.stderr[-3000:]
  a, b = final_params(two, 4), final_params(one, 4)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5), a, b)
