"""Shared by the trainer tests: a tiny variant of the Quickstart config and checkpoint readers."""

import os
import subprocess
import sys

from jvision import checkpointing, config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "experiments", "cnn_digits.py")
# A small, quick variant of the Quickstart job: every knob still exercised (BN, dropout, adamw, cosine).
TINY = [
    "total_steps=10", "batch_size=32", "model.features=(8, 16)", "model.convs_per_block=1",
    "model.head_width=32", "checkpoint_every_steps=1", "log_every_steps=1", "eval_every_steps=10",
    "eval_batch_size=120", "schedule.warmup_steps=2", "async_checkpoints=false",
]


def tiny_config(*extra):
  return config_lib.load_config(CONFIG, TINY + list(extra))


def final_params(workdir, step):
  """The params pytree (numpy) saved at ``step`` in ``workdir``."""
  return checkpointing.load_state(os.path.join(workdir, "checkpoints"), step)["params"]


def run_cli(workdir, *args, timeout=900):
  command = [sys.executable, "-m", "jvision.train", "--config", CONFIG, "--workdir", workdir,
             *[f"--config.{o}" for o in TINY], *args]
  return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
