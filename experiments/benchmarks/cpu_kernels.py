r"""What XLA's CPU kernels reach on this machine: matrix products, the CNN's convolutions, elementwise work.

    python experiments/benchmarks/cpu_kernels.py [--repeats 5]

Four tables, each op compiled by ``jvision.compilation.jit`` (YNNPACK for matrix products only) unless the
row says XLA's defaults (plain ``jax.jit``, YNNPACK for convolutions too):

- matrix products ``[m, k] x [k, n]`` in float32 and bfloat16 (float32 and bfloat16 results), GFLOP/s;
- the benchmark CNN's 3x3 convolutions at batch 128 (``train_throughput.py``'s network): forward, input
  gradient and kernel gradient, milliseconds and GFLOP/s, and the forward pass under XLA's defaults;
- a fused multiply-add over a float32 array, GB/s (read and write), the rate every materialised copy pays;
- the transpose a kernel gradient needs (``[B, H, W, C]`` to ``[C, H, W, B]``) of the CNN's activations: of a
  stored array, of a scaled ReLU as XLA fuses it (one strided loop), and of the same ReLU through
  ``jvision.ops.conv.transpose_unfused`` (the ReLU, then the plain transpose), milliseconds.

These figures explain the train-step benchmark: the CNN's step is mostly its convolutions, and copies are
expensive next to them.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jvision import compilation
from jvision.ops import conv as conv_ops

NHWC = ("NHWC", "HWIO", "NHWC")
MATMULS = [(2048, 2048, 2048), (32768, 576, 64), (32768, 64, 64)]
# side, in channels, out channels: the CNN's 3x3 convolutions after its first (3 input channels).
CONVS = [(32, 64, 64), (16, 64, 128), (16, 128, 128), (8, 128, 256), (8, 256, 256)]


def seconds(fn, args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))
  start = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / repeats


def conv(x, w):
  return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=NHWC)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--batch", type=int, default=128)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  print(f"device: {jax.devices()[0].device_kind}")

  print("\n| matrix product m x k x n | operands | result | GFLOP/s |\n|---|---|---|---|")
  for m, k, n in MATMULS:
    for dtype, result in ((jnp.float32, jnp.float32), (jnp.bfloat16, jnp.float32), (jnp.bfloat16, jnp.bfloat16)):
      a = jnp.asarray(rng.normal(size=(m, k)), dtype)
      b = jnp.asarray(rng.normal(size=(k, n)), dtype)
      fn = compilation.jit(lambda a, b, result=result: jnp.dot(a, b, preferred_element_type=result))
      rate = 2 * m * k * n / seconds(fn, (a, b), args.repeats) / 1e9
      print(f"| {m} x {k} x {n} | {jnp.dtype(dtype).name} | {jnp.dtype(result).name} | {rate:.0f} |", flush=True)

  print(f"\n| 3x3 convolution, batch {args.batch}, float32 | forward ms (GFLOP/s) | input gradient ms (GFLOP/s) | "
        "kernel gradient ms (GFLOP/s) | forward under XLA's defaults ms |\n|---|---|---|---|---|")
  for side, cin, cout in CONVS:
    x = jnp.asarray(rng.normal(size=(args.batch, side, side, cin)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, cin, cout)) * 0.05, jnp.float32)
    dy = jnp.asarray(rng.normal(size=(args.batch, side, side, cout)), jnp.float32)
    flops = 2 * args.batch * side * side * 9 * cin * cout
    times = [seconds(compilation.jit(conv), (x, w), args.repeats),
             seconds(compilation.jit(lambda dy, x, w: jax.vjp(conv, x, w)[1](dy)[0]), (dy, x, w), args.repeats),
             seconds(compilation.jit(lambda dy, x, w: jax.vjp(conv, x, w)[1](dy)[1]), (dy, x, w), args.repeats)]
    default = seconds(jax.jit(conv), (x, w), args.repeats)
    cells = " | ".join(f"{t * 1e3:.1f} ({flops / t / 1e9:.0f})" for t in times)
    print(f"| {side}x{side}, {cin} -> {cout} | {cells} | {default * 1e3:.1f} |", flush=True)

  x = jnp.asarray(rng.normal(size=(args.batch * 33 * 34, 64)), jnp.float32)
  t = seconds(compilation.jit(lambda x: x * 2.0 + 1.0), (x,), args.repeats)
  print(f"\n| fused multiply-add over float32 {tuple(x.shape)} ({x.nbytes / 2 ** 20:.0f} MiB) | GB/s (read + write) |")
  print(f"|---|---|\n| {t * 1e3:.1f} ms | {2 * x.nbytes / t / 1e9:.1f} |")

  print("\n| transpose [B, H, W, C] -> [C, H, W, B], float32 | stored array ms | ReLU(x * s) fused by XLA ms | "
        "ReLU(x * s) through transpose_unfused ms |\n|---|---|---|---|")
  to_kernel_layout = (3, 1, 2, 0)
  for side, cin, _ in CONVS[::2]:
    x = jnp.asarray(rng.normal(size=(args.batch, side, side, cin)), jnp.float32)
    scale = jnp.full((cin,), 1.5, jnp.float32)
    times = [seconds(compilation.jit(lambda x: jnp.transpose(x, to_kernel_layout)), (x,), args.repeats),
             seconds(compilation.jit(lambda x, s: jnp.transpose(jax.nn.relu(x * s), to_kernel_layout)),
                     (x, scale), args.repeats),
             seconds(compilation.jit(lambda x, s: conv_ops.transpose_unfused(
                 jax.nn.relu(x * s), to_kernel_layout, anchor=s)), (x, scale), args.repeats)]
    print(f"| {args.batch}x{side}x{side}x{cin} | " + " | ".join(f"{t * 1e3:.1f}" for t in times) + " |", flush=True)


if __name__ == "__main__":
  main()
