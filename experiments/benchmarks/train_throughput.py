r"""Train-step throughput (images/s) of jvision's step, and of the same network in PyTorch when installed.

    python experiments/benchmarks/train_throughput.py [--models cnn,resnet18] [--dtypes float32,bfloat16]
        [--batch 128] [--steps 20] [--repeats 3] [--rounds 1] [--torch/--no-torch] [--batch-norm jvision|flax]
        [--xla-defaults] [--cnn-pooling max|flax_max|avg] [--conv-kernel-gradient jvision|xla]

Times `jvision.train.train_step` exactly as the trainer runs it (``jvision.compilation.jit``, donated state,
BatchNorm in training mode, SGD with momentum, the non-finite guard) on random 32x32x3 batches, after a
warm-up that includes the compilation. The CNN is the `experiments/cnn_cifar10.py` network (3 blocks of 2 convs 64/128/256, BN,
max-pool, dense 256). Where `torch` is importable, the same architecture is timed in PyTorch (float32, and
bfloat16 under CPU autocast) with the same batch and optimizer, and the ratio jvision/PyTorch is printed.
With ``--rounds N`` both are timed N times, alternately, and the table gives the medians and the range of
the rounds' ratios: this machine's speed drifts by 10% and more between minutes. PyTorch is optional: nothing in jvision needs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "experiments", "benchmarks"))

CNN_KWARGS = dict(features=(64, 128, 256), convs_per_block=2, kernel_size=3, activation="relu",
                  batch_norm=True, pooling="max", dropout_rate=0.0, head_width=256)


def jax_model(name: str, dtype):
  from jvision import models
  if name == "cnn":
    return models.get_model("cnn", num_classes=10, dtype=dtype, **CNN_KWARGS)
  return models.get_model(name, num_classes=10, dtype=dtype)


def time_steps(step_once, steps: int, repeats: int, warmup: int = 3) -> float:
  """Median images/s over ``repeats`` timings of ``steps`` steps; ``step_once()`` returns something to sync."""
  for _ in range(warmup):
    out = step_once()
  jax.block_until_ready(out)
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      out = step_once()
    jax.block_until_ready(out)
    rates.append(steps / (time.perf_counter() - start))
  return statistics.median(rates)


def jax_step(name: str, dtype: str, batch: int, guard_nonfinite: bool = True, xla_defaults: bool = False):
  """The trainer's step on a fixed random batch, as a function of no arguments that returns the loss.
  ``xla_defaults``: compile it with plain ``jax.jit`` (XLA's default CPU options) instead of
  ``jvision.compilation.jit``, the trainer's."""
  import optax
  from jvision import compilation, train
  from jvision.tasks.classification import ClassificationTask

  model = jax_model(name, jnp.dtype(dtype))
  task = ClassificationTask(num_classes=10)
  tx = optax.sgd(0.01, momentum=0.9)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(batch, 32, 32, 3)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 10, size=batch), jnp.int32)
  variables = model.init(jax.random.PRNGKey(0), images[:1])
  state = train.TrainState.create(
      apply_fn=model.apply, params=variables["params"], tx=tx,
      model_state={k: v for k, v in variables.items() if k != "params"}, rng=jax.random.PRNGKey(1),
      nonfinite_step=jnp.int32(-1))
  jit = jax.jit if xla_defaults else compilation.jit
  step = jit(lambda s, b: train.train_step(s, b, task=task, guard_nonfinite=guard_nonfinite),
             donate_argnums=(0,))
  batch_data = {"image": images, "label": labels}
  holder = [state]

  def step_once():
    holder[0], metrics = step(holder[0], batch_data)
    return metrics["loss"]

  return step_once


def jax_images_per_second(name: str, dtype: str, batch: int, steps: int, repeats: int,
                          guard_nonfinite: bool = True, xla_defaults: bool = False) -> float:
  return batch * time_steps(jax_step(name, dtype, batch, guard_nonfinite, xla_defaults), steps, repeats)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", default="cnn,resnet18")
  parser.add_argument("--dtypes", default="float32,bfloat16")
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--rounds", type=int, default=1,
                      help="time jvision and PyTorch this many times each, alternating; the table gives the "
                           "medians and the range of the rounds' ratios (this machine's speed drifts)")
  parser.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True)
  parser.add_argument("--cnn-pooling", default="max", choices=("max", "flax_max", "avg"),
                      help="the CNN's pooling (jvision side only): isolates max-pool's backward pass; "
                           "flax_max is max pooling through flax.linen.max_pool instead of jvision.ops.pool")
  parser.add_argument("--batch-norm", default="jvision", choices=("jvision", "flax"),
                      help="every model's BatchNorm (jvision side only): flax is flax.linen.BatchNorm instead "
                           "of jvision.models.layers.BatchNorm (its statistics as matrix-vector products)")
  parser.add_argument("--conv-kernel-gradient", default="jvision", choices=("jvision", "xla"),
                      help="the convolutions' kernel gradient (jvision side only): xla is JAX's own, whose "
                           "input transpose XLA fuses with the input's producer, instead of "
                           "jvision.ops.conv.conv_nhwc's (the transpose apart)")
  parser.add_argument("--xla-defaults", action="store_true",
                      help="compile jvision's step with plain jax.jit (XLA's default CPU options, YNNPACK "
                           "convolutions) instead of jvision.compilation.jit")
  args = parser.parse_args()
  if args.batch_norm == "flax":
    from flax import linen as nn
    from jvision.models import layers
    layers.BatchNorm = nn.BatchNorm
  if args.conv_kernel_gradient == "xla":
    from jvision.ops import conv
    conv.conv_nhwc = conv.conv_nhwc.fun  # The same convolution without the custom JVP: JAX's own gradient.
  CNN_KWARGS["pooling"] = "max" if args.cnn_pooling == "flax_max" else args.cnn_pooling
  if args.cnn_pooling == "flax_max":
    from flax import linen as nn
    from jvision.models import cnn
    cnn.max_pool = nn.max_pool

  torch_bench = None
  if args.torch:
    try:
      import torch_reference as torch_bench
    except ImportError:
      print("torch is not installed: PyTorch columns skipped", file=sys.stderr)
  print(f"devices: {jax.devices()}, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  print("| model | dtype | jvision images/s | PyTorch images/s | jvision / PyTorch | rounds' ratios |")
  print("|---|---|---|---|---|---|")
  for name in args.models.split(","):
    for dtype in args.dtypes.split(","):
      ours_step = jax_step(name, dtype, args.batch, xla_defaults=args.xla_defaults)
      theirs_step = torch_bench.make_step(name, dtype, args.batch) if torch_bench else None
      ours, theirs = [], []
      for _ in range(args.rounds):
        ours.append(args.batch * time_steps(ours_step, args.steps, args.repeats))
        if theirs_step:
          theirs.append(torch_bench.images_per_second(theirs_step, args.batch, args.steps, args.repeats))
      ours_rate = statistics.median(ours)
      theirs_rate = statistics.median(theirs) if theirs else float("nan")
      ratios = [a / b for a, b in zip(ours, theirs)]
      spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
      print(f"| {name} | {dtype} | {ours_rate:.0f} | {theirs_rate:.0f} | {ours_rate / theirs_rate:.2f} | {spread} |",
            flush=True)

if __name__ == "__main__":
  main()
