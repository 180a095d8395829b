r"""CLIP train-step throughput and the contrastive loss's per-device memory at 1, 2, 4 and 8 devices.

    python experiments/benchmarks/clip.py [--steps 5] [--local_batch 16]

Runs on fake CPU devices (``--xla_force_host_platform_device_count=8``, set here before JAX starts), so the
throughput column measures the sharded program's overhead on one machine's cores, not a speed-up; the memory
columns are what XLA compiles per device and carry over to real accelerators. Per device: ``local_batch``
image-text pairs (global batch = devices x local_batch); the tiny shapes model (``clip_tiny``, 64 px).
Memory: the sharded loss alone, compiled for ``--loss_local_batch`` pairs per device of width 512; "logits"
is one ``[B_local, B_global]`` float32 buffer, "unsharded" one ``[B_global, B_global]`` buffer.
"""

import argparse
import os
import time

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

from jvision import models, tasks, train  # noqa: E402
from jvision.losses import contrastive  # noqa: E402


def step_throughput(mesh, local_batch, steps, loss):
  model = models.get_model("clip_tiny")
  task = tasks.get_task("contrastive", dataset="shapes/single_64", image_size=64, context_length=16,
                        vocab_size=128, loss=loss, mesh=mesh)
  replicated, sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

  def init(rng):
    params = model.init(rng, jnp.zeros((1, 64, 64, 3)))["params"]
    return train.TrainState.create(apply_fn=model.apply, params=params, tx=optax.adamw(1e-3), model_state={},
                                   rng=rng, nonfinite_step=jnp.int32(-1))

  state = jax.jit(init, out_shardings=replicated)(jax.random.PRNGKey(0))
  global_batch = local_batch * mesh.size
  rng = np.random.default_rng(0)
  batch = {"image": rng.normal(size=(global_batch, 64, 64, 3)).astype(np.float32),
           "tokens": np.concatenate([np.full((global_batch, 1), 2), rng.integers(3, 60, (global_batch, 8)),
                                     np.full((global_batch, 1), 127), np.zeros((global_batch, 6), int)],
                                    1).astype(np.int32)}
  batch = jax.device_put(batch, sharded)
  step = jax.jit(lambda s, b: train.train_step(s, b, task=task), in_shardings=(replicated, sharded),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))
  state, metrics = step(state, batch)  # Compile.
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  return global_batch * steps / (time.perf_counter() - start)


def loss_memory(mesh, local_batch, kind, dim=512):
  spec = jax.ShapeDtypeStruct((local_batch * mesh.size, dim), jnp.float32)
  scalar = jax.ShapeDtypeStruct((), jnp.float32)
  loss = contrastive.make_sharded_loss(mesh, kind)
  grad = jax.grad(loss, argnums=(0, 1))
  compiled = jax.jit(grad).lower(spec, spec, scalar, scalar).compile()
  return compiled.memory_analysis().temp_size_in_bytes


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--local_batch", type=int, default=16)
  parser.add_argument("--loss_local_batch", type=int, default=256)
  args = parser.parse_args()
  mib = lambda b: f"{b / 2 ** 20:.2f}"
  print(f"| devices | global batch | train pairs/s (softmax) | train pairs/s (sigmoid) | loss+grad temp MiB/device "
        f"softmax | sigmoid | logits [B_local, B_global] MiB | unsharded [B, B] MiB |")
  print("|---|---|---|---|---|---|---|---|")
  for n in (1, 2, 4, 8):
    mesh = Mesh(np.asarray(jax.devices()[:n]), ("data",))
    rates = [step_throughput(mesh, args.local_batch, args.steps, kind) for kind in ("softmax", "sigmoid")]
    b_local, b_global = args.loss_local_batch, args.loss_local_batch * n
    temps = [loss_memory(mesh, b_local, kind) for kind in ("softmax", "sigmoid")]
    print(f"| {n} | {args.local_batch * n} | {rates[0]:.1f} | {rates[1]:.1f} | {mib(temps[0])} | {mib(temps[1])} | "
          f"{mib(b_local * b_global * 4)} | {mib(b_global * b_global * 4)} |", flush=True)


if __name__ == "__main__":
  main()
