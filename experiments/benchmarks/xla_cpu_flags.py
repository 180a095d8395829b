r"""Where the CPU train step's time goes: the same step under different XLA CPU settings.

    python experiments/benchmarks/xla_cpu_flags.py [--model cnn] [--dtype float32] [--batch 128] [--steps 10] \
        [--repeats 3]

Each variant runs `train_throughput.py`'s jvision step (``--dtype`` compute, 32x32x3, SGD with momentum) in a fresh
process, because XLA reads its flags once at start-up, and prints images/s. The step is compiled with
``jvision.compilation.jit`` (YNNPACK kept to matrix products) except in the first row, which compiles it with
plain ``jax.jit``: XLA's defaults, under which YNNPACK also runs the convolutions. Other variants: XLA's
oneDNN and XNNPACK kernels, fast math, and the step without jvision's non-finite guard (the guard selects
between old and new state, one extra pass over params and optimizer state).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

VARIANTS = {
    "XLA defaults (plain jax.jit: YNNPACK convolutions)": "",
    "jvision (compilation.jit)": "",
    "onednn": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "fast_math": "--xla_cpu_enable_fast_math=true",
}

CHILD = r"""
import sys, json
sys.path.insert(0, {here!r})
import train_throughput as tt
rate = tt.jax_images_per_second({model!r}, {dtype!r}, {batch}, {steps}, {repeats}, guard_nonfinite={guard},
                                xla_defaults={xla_defaults})
print(json.dumps(rate))
"""


def run_variant(flags: str, model: str, batch: int, steps: int, repeats: int, guard: bool = True,
                dtype: str = "float32", xla_defaults: bool = False) -> str:
  env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
  code = CHILD.format(here=HERE, model=model, dtype=dtype, batch=batch, steps=steps, repeats=repeats, guard=guard,
                      xla_defaults=xla_defaults)
  result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
  if result.returncode != 0:
    last = (result.stderr.strip().splitlines() or ["?"])[-1]
    return f"failed: {last[:120]}"
  return f"{float(result.stdout.strip().splitlines()[-1]):.0f}"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="cnn")
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  print(f"| variant ({args.model}, batch {args.batch}, {args.dtype}) | XLA_FLAGS | images/s |")
  print("|---|---|---|")
  for name, flags in VARIANTS.items():
    rate = run_variant(flags, args.model, args.batch, args.steps, args.repeats, dtype=args.dtype,
                       xla_defaults=name.startswith("XLA defaults"))
    print(f"| {name} | `{flags or '(none)'}` | {rate} |", flush=True)
  rate = run_variant("", args.model, args.batch, args.steps, args.repeats, guard=False, dtype=args.dtype)
  print(f"| jvision without the non-finite guard | `(none)` | {rate} |", flush=True)


if __name__ == "__main__":
  main()
