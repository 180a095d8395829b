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


def run_two_processes(workdir, *args, timeout=300):
  port = free_port()
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
  processes = [subprocess.Popen(
      [sys.executable, "-m", "jvision.train", "--config", CONFIG, "--workdir", workdir,
       *[f"--config.{o}" for o in TINY], "--config.model.dropout_rate=0.0", *args,
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
