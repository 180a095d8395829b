"""Test set-up, made before JAX starts: eight fake CPU devices, a compilation cache shared by the whole run,
and a private TFDS data directory.

The suite is dominated by XLA compile time, not by running the tiny models, so one persistent compilation
cache serves the run (inherited by the pytest-xdist workers and by the subprocesses the tests start): a
program compiled by one test, worker or killed-and-resumed process is loaded, not compiled again, by the next.
(Compiling everything at ``--xla_backend_optimization_level=0`` was tried: compiles got ~5x quicker, but the
unvectorised code made the style-transfer tests' L-BFGS loops over 10x slower.) Both directories are removed
when the process that made them exits.
"""

import atexit
import os
import shutil
import sys
import tempfile

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _temporary_dir(prefix: str) -> str:
  path = tempfile.mkdtemp(prefix=prefix)
  atexit.register(shutil.rmtree, path, ignore_errors=True)
  return path


# Embedded datasets are built here once per test process (and inherited by the subprocesses it starts),
# never in the user's own TFDS directory; each xdist worker has its own, so two never build one dataset.
os.environ["TFDS_DATA_DIR"] = _temporary_dir("jvision-tfds-")
# The compilation cache is shared: the xdist workers inherit the controller's.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _temporary_dir("jvision-xla-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
# Shared test helpers (tests/run_helpers.py) are importable from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
