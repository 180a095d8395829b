r"""XLA's CPU convolution against jvision's matrix-product path (``jvision.ops.conv``) on ResNet-18's shapes.

    python experiments/benchmarks/conv_paths.py [--batch 128] [--repeats 5]

For each convolution of a ResNet-18 on 32x32 inputs (and two larger maps for contrast), times the forward
pass and the gradient with respect to input and kernel, through ``lax.conv_general_dilated`` and through
``jvision.ops.conv.conv_im2col``, each compiled as jvision compiles its steps (``jvision.compilation.jit``),
and prints milliseconds per call and the speed-up. The rows decide
``jvision.ops.conv.SMALL_OUTPUT_PIXELS``: below it the matrix product wins, above it XLA does.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jvision import compilation
from jvision.ops import conv

# name, input side, in channels, out channels, kernel, stride, padding
CASES = [
    ("stem 7x7/2", 32, 3, 64, 7, 2, 3), ("layer1 3x3", 8, 64, 64, 3, 1, 1),
    ("layer2 3x3/2", 8, 64, 128, 3, 2, 1), ("layer2 3x3", 4, 128, 128, 3, 1, 1),
    ("layer3 3x3/2", 4, 128, 256, 3, 2, 1), ("layer3 3x3", 2, 256, 256, 3, 1, 1),
    ("layer4 3x3/2", 2, 256, 512, 3, 2, 1), ("layer4 3x3", 1, 512, 512, 3, 1, 1),
    ("layer4 1x1/2", 2, 256, 512, 1, 2, 0), ("CNN 3x3 at 16x16", 16, 64, 128, 3, 1, 1),
]


def milliseconds(fn, args, repeats: int) -> float:
  """Mean time of ``fn(*args)`` compiled as jvision compiles its steps (``jvision.compilation.jit``)."""
  fn = compilation.jit(fn)
  jax.block_until_ready(fn(*args))
  start = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  print(f"device: {jax.devices()[0].device_kind}, batch {args.batch}, float32")
  print("| convolution | output | XLA fwd / grad ms | matrix product fwd / grad ms | speed-up (fwd+grad) |")
  print("|---|---|---|---|---|")
  rng = np.random.default_rng(0)
  for name, side, cin, cout, k, s, p in CASES:
    x = jnp.asarray(rng.normal(size=(args.batch, side, side, cin)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, k, cin, cout)) * 0.05, jnp.float32)
    pads = ((p, p), (p, p))
    paths = {"xla": lambda x, w: lax.conv_general_dilated(x, w, (s, s), pads,
                                                          dimension_numbers=("NHWC", "HWIO", "NHWC")),
             "matmul": lambda x, w: conv.conv_im2col(x, w, (s, s), pads)}
    times = {}
    for key, fn in paths.items():
      grad = jax.grad(lambda x, w, fn=fn: jnp.sum(fn(x, w) ** 2), argnums=(0, 1))
      times[key] = (milliseconds(fn, (x, w), args.repeats), milliseconds(grad, (x, w), args.repeats))
    out = paths["xla"](x, w).shape[1:3]
    speedup = sum(times["xla"]) / sum(times["matmul"])
    print(f"| {name} | {out[0]}x{out[1]} | {times['xla'][0]:.1f} / {times['xla'][1]:.1f} | "
          f"{times['matmul'][0]:.1f} / {times['matmul'][1]:.1f} | {speedup:.2f}x |", flush=True)


if __name__ == "__main__":
  main()
