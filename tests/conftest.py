"""Test set-up: eight fake CPU devices (set before JAX starts) and a private TFDS data directory."""

import os
import sys
import tempfile

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Embedded datasets are built here once per test process (and inherited by subprocesses), never in the
# user's own TFDS directory.
os.environ["TFDS_DATA_DIR"] = tempfile.mkdtemp(prefix="jvision-tfds-")
# Shared test helpers (tests/run_helpers.py) are importable from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
