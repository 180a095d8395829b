r"""flax's max pooling (XLA reduce_window, select-and-scatter gradient) against jvision's strided slices.

    python experiments/benchmarks/pool_paths.py [--batch 128] [--repeats 5]

For the 2x2/2 max pooling of the benchmark CNN's blocks on 32x32 inputs (and of VGG/U-Net-like wider maps),
times the forward pass and the gradient through ``flax.linen.max_pool`` and through
``jvision.ops.pool.max_pool`` (the maximum of the window's strided slices, a first-maximum custom gradient),
and prints milliseconds per call and the speed-up; also for the overlapping 3x3/2 pooling of the ResNet stem.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from conv_paths import milliseconds  # This folder is on sys.path when the script runs.
from jvision.ops import pool

# name, input side, channels, window, stride, padding
CASES = [  # The CNN of cnn_cifar10.py / train_throughput.py pools 64, 128 and 256 channels.
    ("CNN block 1, 2x2/2", 32, 64, 2, 2, "SAME"), ("CNN block 2, 2x2/2", 16, 128, 2, 2, "SAME"),
    ("CNN block 3, 2x2/2", 8, 256, 2, 2, "SAME"), ("VGG/U-Net-like 2x2/2", 64, 64, 2, 2, "VALID"),
    ("ResNet stem 3x3/2, overlapping", 16, 64, 3, 2, ((1, 1), (1, 1))),
]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  print(f"device: {jax.devices()[0].device_kind}, batch {args.batch}, float32, input after a ReLU")
  print("| max pooling | input | flax fwd / grad ms | jvision fwd / grad ms | speed-up (fwd+grad) |")
  print("|---|---|---|---|---|")
  rng = np.random.default_rng(0)
  for name, side, channels, k, s, padding in CASES:
    x = jax.nn.relu(jnp.asarray(rng.normal(size=(args.batch, side, side, channels)), jnp.float32))
    paths = {"flax": lambda x: nn.max_pool(x, (k, k), (s, s), padding),
             "jvision": lambda x: pool.max_pool(x, (k, k), (s, s), padding)}
    times = {}
    for key, fn in paths.items():
      grad = jax.grad(lambda x, fn=fn: jnp.sum(fn(x) ** 2))
      times[key] = (milliseconds(fn, (x,), args.repeats), milliseconds(grad, (x,), args.repeats))
    speedup = sum(times["flax"]) / sum(times["jvision"])
    print(f"| {name} | {side}x{side}x{channels} | {times['flax'][0]:.1f} / {times['flax'][1]:.1f} | "
          f"{times['jvision'][0]:.1f} / {times['jvision'][1]:.1f} | {speedup:.2f}x |", flush=True)


if __name__ == "__main__":
  main()
