"""Test set-up, made before JAX starts: eight fake CPU devices, quick compiles, a compilation cache shared by
the whole run, and a private TFDS data directory.

The suite is dominated by XLA compile time, not by running the tiny models, so:
- programs are compiled with most optimizations off (``JAX_DISABLE_MOST_OPTIMIZATIONS``, inherited by the
  subprocesses the tests start): a third less CPU time for the trainer and detector tests. Tests whose run
  time matters more than their compile time (the style-transfer L-BFGS loops are over 10x slower unoptimized)
  carry ``@pytest.mark.optimized`` and compile as users' code does;
- one persistent compilation cache serves the run (inherited by the pytest-xdist workers and by the
  subprocesses): a program compiled by one test, worker or killed-and-resumed process is loaded, not compiled
  again, by the next.
These directories, and one that holds every other temporary file of the run, are removed when the process
that made them exits.
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
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")


def _temporary_dir(prefix: str) -> str:
  path = tempfile.mkdtemp(prefix=prefix)
  atexit.register(shutil.rmtree, path, ignore_errors=True)
  return path


# Temporary files of the run (and of libraries that leave theirs behind: TFDS makes an empty directory each
# time a builder looks for its metadata online) go in one directory, removed at the end.
os.environ["TMPDIR"] = _temporary_dir("jvision-tmp-")
tempfile.tempdir = None  # Read TMPDIR again.
# Embedded datasets are built here once per test process (and inherited by the subprocesses it starts),
# never in the user's own TFDS directory; each xdist worker has its own, so two never build one dataset.
os.environ["TFDS_DATA_DIR"] = _temporary_dir("jvision-tfds-")
# The compilation cache is shared: the xdist workers inherit the controller's.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _temporary_dir("jvision-xla-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
# Shared test helpers (tests/run_helpers.py) are importable from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


import pytest  # noqa: E402  (after the environment above, which JAX reads when it starts)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
  """``@pytest.mark.optimized`` tests compile with XLA's optimizations, as the library does outside tests.

  Set before any fixture of the test is made, so a module fixture that the test is first to need (the style
  tests' shared L-BFGS run) compiles in the test's mode.
  """
  import jax
  jax.config.update("jax_disable_most_optimizations", item.get_closest_marker("optimized") is None)


def pytest_collection_modifyitems(items):
  """``@pytest.mark.heavy`` tests (20 s or more each) run first, the rest in file order.

  With ``pytest -n 2 --dist worksteal`` the long tests then start early on both workers and the short ones
  fill in around them, so that the workers finish together instead of one running a long test alone at the
  end. Every worker sorts the same way, as pytest-xdist requires.
  """
  items.sort(key=lambda item: item.get_closest_marker("heavy") is None)
