"""The generic trainer: config -> task, model, optimizer, mesh, data -> jit-compiled step -> checkpoints.

    python -m jvision.train --config experiments/cnn_digits.py --workdir runs/cnn_digits \
        [--config.optimizer.learning_rate=0.01 ...]

One device mesh over all devices with ``data`` and ``model`` axes (``jvision.sharding``): batches are sharded
along ``data``; parameters and optimizer state are replicated (default), fully sharded over ``data``
(``config.param_sharding = "fsdp"``) and/or split over ``model`` where the model annotates its kernels
(``config.model_axis_size > 1``). The step is one ``jax.jit`` program (XLA inserts the gradient all-reduce
or reduce-scatter; BatchNorm statistics are computed over the global batch, so 1 device and 8 devices train
the same model). Each process
feeds its own slice of the global batch, so the same code runs on several hosts after
``jax.distributed.initialize()``.

The run resumes from the latest checkpoint in the workdir: params, optimizer state, BatchNorm statistics, step,
RNG key and the input position are restored, so a run killed at any point and restarted ends with the same
parameters as an uninterrupted one. A non-finite loss or gradient leaves the state untouched from that step on
and stops the run with an error naming the step; checkpoints are only written from a finite state.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import json
import os
import shutil
import sys
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import linen as nn
from flax.training import train_state
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jvision import (checkpointing, compilation, config as config_lib, data, finetune, metric_writers, models,
                     optim, registry, sharding, tasks, viz)
from jvision.data import caption_filter, pipeline
from jvision.proposals import source as proposals_source


class TrainState(train_state.TrainState):
  """flax's TrainState plus what else a step needs to be resumable.

  Attributes:
    model_state: non-parameter collections (e.g. ``{"batch_stats": ...}``).
    rng: base PRNG key; step ``s`` uses ``fold_in(rng, s)``, so no key needs advancing.
    nonfinite_step: -1, or the first step whose loss or gradients were not finite.
  """

  model_state: Any
  rng: jax.Array
  nonfinite_step: jax.Array


@dataclasses.dataclass
class Experiment:
  """Everything built from a config, shared by training and evaluation."""

  config: ml_collections.ConfigDict
  task: Any
  model: Any
  tx: optax.GradientTransformation
  schedule: optax.Schedule
  mesh: Mesh
  train_source: Any
  eval_source: Any
  pretrained_variables: Any = None  # Imported (pretrained) variables to start from instead of a random init.

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, P())

  @property
  def batch_sharding(self) -> NamedSharding:
    return NamedSharding(self.mesh, P("data"))

  @functools.cached_property
  def state_sharding(self) -> Any:
    """The ``NamedSharding`` of every array of the train state (``jvision.sharding.state_shardings``)."""
    def boxed_params_and_state(rng):  # One trace of ``init`` gives both.
      boxed = init_variables(self, rng)
      return boxed["params"], create_train_state(self, rng, nn.meta.unbox(boxed))

    boxed_params, abstract_state = jax.eval_shape(boxed_params_and_state, jax.random.PRNGKey(0))
    return sharding.state_shardings(
        abstract_state, self.mesh,
        strategy=self.config.get("param_sharding", config_lib.DEFAULTS["param_sharding"]),
        annotations=sharding.annotated_specs(boxed_params),
        fsdp_min_size=self.config.get("fsdp_min_size", config_lib.DEFAULTS["fsdp_min_size"]))


def create_mesh(devices: Optional[list] = None, model_axis_size: int = 1) -> Mesh:
  """The ``("data", "model")`` mesh over ``devices`` (default: all devices of all processes)."""
  return sharding.create_mesh(devices, model_axis_size)


# How long the other processes wait for process 0 to build an embedded dataset (shapes: about a minute).
DATASET_BUILD_TIMEOUT_S = 3600


def wait_for_all_processes(name: str, timeout_s: float) -> None:
  """Blocks until every process reaches the barrier ``name`` (unique per call), or raises after ``timeout_s``.

  A barrier of the coordination service, not a device collective: the first collective initialises the CPU
  (gloo) communicator, whose connect timeout is 30 s, so a collective cannot wait out a one-minute build.
  """
  from jax._src import distributed  # JAX's own array serialization waits on this client the same way.
  client = distributed.global_state.client
  if client is None:
    multihost_utils.sync_global_devices(name)
    return
  client.wait_at_barrier(name, timeout_in_ms=int(timeout_s * 1000))


def build_experiment(config: ml_collections.ConfigDict, devices: Optional[list] = None) -> Experiment:
  """Builds the task, model, optimizer, mesh and data sources named by ``config``."""
  mesh = create_mesh(devices, config.get("model_axis_size", config_lib.DEFAULTS["model_axis_size"]))
  accum_steps = config.get("grad_accum_steps", 1)
  if accum_steps < 1 or config.batch_size % (mesh.shape["data"] * accum_steps):
    raise config_lib.ConfigError(
        f"config key 'batch_size' ({config.batch_size}) must be divisible by the number of data-parallel "
        f"devices ({mesh.shape['data']}) times 'grad_accum_steps' ({accum_steps})")
  task, model, schedule, tx = build_task_model_optimizer(config, mesh)
  data_dir = config.data.get("data_dir") or None
  if jax.process_count() > 1:  # One process builds embedded datasets while the others wait.
    if jax.process_index() == 0:
      data.prepare(config.data.name, data_dir)
    wait_for_all_processes("jvision_datasets_prepared", timeout_s=DATASET_BUILD_TIMEOUT_S)
  train_source = data.data_source(config.data.name, config.data.train_split, data_dir)
  if config.data.get("train_exclude_phrases"):  # Held-out caption phrases, e.g. ("red star",).
    train_source = caption_filter.exclude_caption_phrases(train_source, config.data.train_exclude_phrases)
  eval_source = data.data_source(config.data.name, config.data.eval_split, data_dir)
  # Precomputed region proposals (Fast R-CNN), e.g. selective search; method "none" attaches none.
  if config.data.get("proposals") and config.data.proposals.get("method") != "none":
    train_source, eval_source = (
        proposals_source.attach_cached_proposals(source, config.data.name, split, data_dir=data_dir,
                                                 **_proposal_options(config.data.proposals))
        for source, split in ((train_source, config.data.train_split), (eval_source, config.data.eval_split)))
  pretrained_variables = None
  if config.get("finetune"):
    tx, pretrained_variables = _finetune(config, task, model, schedule, eval_source, tx)
  return Experiment(config, task, model, tx, schedule, mesh, train_source, eval_source, pretrained_variables)


def build_task_model_optimizer(config: ml_collections.ConfigDict, mesh: Mesh):
  """``(task, model, schedule, tx)`` named by ``config.task``, ``config.model`` (computing in ``config.dtype``),
  ``config.schedule`` and ``config.optimizer``: everything of an experiment but its data."""
  task_kwargs = {k: v for k, v in config.task.items() if k != "name"}
  # A task whose constructor takes ``mesh`` (e.g. a loss sharded over the data axis) receives the mesh.
  if "mesh" in inspect.signature(registry.lookup("task", tasks.TASKS, config.task.name)).parameters:
    task_kwargs["mesh"] = mesh
  task = tasks.get_task(config.task.name, **task_kwargs)
  model_kwargs = {k: v for k, v in config.model.items() if k != "name"}
  model = models.get_model(config.model.name, dtype=jnp.dtype(config.get("dtype", "float32")),
                           **model_kwargs)
  schedule = optim.make_schedule(config.schedule, config.optimizer.learning_rate, config.total_steps)
  tx = optim.make_optimizer(config.optimizer, schedule)
  return task, model, schedule, tx


def _proposal_options(proposals: ml_collections.ConfigDict) -> dict:
  """``config.data.proposals`` -> ``attach_cached_proposals`` keywords (method, top_k, cache options)."""
  proposals = dict(proposals)
  method, top_k = proposals.pop("method", "selective_search"), proposals.pop("top_k", None)
  return dict(method=method, top_k=top_k, options=proposals)


def _finetune(config: ml_collections.ConfigDict, task: Any, model: Any, schedule: optax.Schedule,
              eval_source: Any, tx: optax.GradientTransformation):
  """``config.finetune``: the optimizer with a scaled (or frozen) backbone, and the imported variables.

  ``weights``: a torchvision-named state dict of ``config.model.name`` ("" trains from a random init);
  ``checkpoint``: instead, a ``jvision.train`` workdir whose latest checkpoint gives every variable but those
  of the top-level modules in ``new_modules`` (``finetune.import_checkpoint``);
  ``backbone_lr_multiplier``: the backbone's learning rate relative to the head's (0 freezes it).
  """
  sample = sample_input(task, eval_source)
  template = jax.eval_shape(lambda: model.init(jax.random.key(0), sample, train=False))
  multiplier = float(config.finetune.get("backbone_lr_multiplier", 1.0))
  if multiplier != 1.0:
    tx = finetune.scaled_backbone_optimizer(lambda s: optim.make_optimizer(config.optimizer, s), schedule,
                                            multiplier, template["params"], head=[finetune.head_name(model)])
  weights, checkpoint = config.finetune.get("weights", ""), config.finetune.get("checkpoint", "")
  if weights and checkpoint:
    raise config_lib.ConfigError("give finetune.weights or finetune.checkpoint, not both")
  head_rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
  if checkpoint:
    fresh = nn.meta.unbox(jax.jit(lambda rng: model.init({"params": rng, "dropout": rng}, sample,
                                                         train=False))(head_rng))
    variables = finetune.import_checkpoint(checkpoint, fresh, tuple(config.finetune.get("new_modules", ())))
    return tx, jax.device_get(variables)
  if not weights:
    return tx, None
  variables = finetune.import_pretrained(config.model.name, weights, model, template, head_rng, sample)
  return tx, jax.device_get(variables)


def sample_input(task: Any, source: Any) -> jnp.ndarray:
  """A zero batch of one image shaped like the task's preprocessed examples of ``source`` (for ``init``)."""
  example = task.preprocess_eval(source[0])
  return jnp.zeros((1, *np.shape(example["image"])), jnp.float32)


def init_variables(exp: Experiment, rng: jax.Array) -> dict:
  """The model's variables as ``init`` returns them (partitioning annotations still boxed)."""
  image = sample_input(exp.task, exp.eval_source)
  init_rng = jax.random.split(rng)[0]
  return exp.model.init({"params": init_rng, "dropout": init_rng}, image, train=False)


def create_train_state(exp: Experiment, rng: jax.Array, pretrained_variables: Any = None) -> TrainState:
  """Initializes parameters (or takes ``pretrained_variables``) and optimizer state (call under jit with
  ``out_shardings``)."""
  state_rng = jax.random.split(rng)[1]
  variables = pretrained_variables
  if variables is None:
    variables = nn.meta.unbox(init_variables(exp, rng))
  model_state = {k: v for k, v in variables.items() if k != "params"}
  return TrainState.create(apply_fn=exp.model.apply, params=variables["params"], tx=exp.tx, model_state=model_state,
                           rng=state_rng, nonfinite_step=jnp.int32(-1))


def _loss_and_grads(state: TrainState, batch: dict[str, jax.Array], rng: jax.Array, task: Any,
                    accum_steps: int):
  """Mean loss, metrics, updated model state and mean gradients, over ``accum_steps`` micro-batches."""

  def micro_step(model_state, micro_batch):
    def loss_fn(params):
      return task.loss(state.apply_fn, {"params": params, **model_state}, micro_batch, rng)

    (loss, (metrics, new_model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    return new_model_state, (loss, metrics, grads)

  if accum_steps == 1:
    model_state, (loss, metrics, grads) = micro_step(state.model_state, batch)
    return loss, metrics, model_state, grads
  # Micro-batch j takes rows j, j + k, j + 2k, ...: each device keeps its own rows, no data moves.
  split = lambda x: jnp.swapaxes(x.reshape(x.shape[0] // accum_steps, accum_steps, *x.shape[1:]), 0, 1)
  model_state, (losses, metrics, grads) = jax.lax.scan(
      micro_step, state.model_state, jax.tree.map(split, batch))
  mean = lambda tree: jax.tree.map(lambda x: jnp.mean(x, axis=0), tree)
  return jnp.mean(losses), mean(metrics), model_state, mean(grads)


def train_step(state: TrainState, batch: dict[str, jax.Array], *, task: Any, accum_steps: int = 1,
               guard_nonfinite: bool = True) -> tuple[TrainState, dict]:
  """One optimization step: ``(state, batch) -> (new_state, metrics)``. Pure; jit it where it is called.

  ``accum_steps > 1`` splits the batch into that many micro-batches and averages their gradients (gradient
  accumulation: the step of the whole batch at the activation memory of one micro-batch; equal to the
  whole-batch step for per-example mean losses without batch statistics).
  With ``guard_nonfinite`` (the trainer's setting), a step whose loss or gradients are not finite leaves
  params, optimizer and model state as they were and records the step in ``nonfinite_step``. Gradients are
  judged by their global norm (one reduction), so finite gradients whose squared norm overflows float32
  (above ~1.8e19) count as non-finite too.
  """
  rng = jax.random.fold_in(state.rng, state.step)
  loss, metrics, new_model_state, grads = _loss_and_grads(state, batch, rng, task, accum_steps)
  updated = state.apply_gradients(grads=grads, model_state=new_model_state)
  metrics = dict(metrics, grad_norm=optax.global_norm(grads))
  if not guard_nonfinite:
    return updated, metrics
  # From the first non-finite step on, keep the last finite params and optimizer state.
  # The global norm is not finite when any gradient is (NaN or inf); one reduction, already computed for the
  # metrics, instead of one per leaf (which doubled the step's XLA compile time).
  finite = jnp.isfinite(loss) & jnp.isfinite(metrics["grad_norm"])
  finite = finite & (state.nonfinite_step < 0)
  keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  new_state = updated.replace(
      params=keep(updated.params, state.params), opt_state=keep(updated.opt_state, state.opt_state),
      model_state=keep(updated.model_state, state.model_state),
      nonfinite_step=jnp.where(finite | (state.nonfinite_step >= 0), state.nonfinite_step,
                               state.step.astype(jnp.int32)))
  return new_state, metrics


def train_batches(exp: Experiment):
  """The resumable iterator of this process's share of each training batch (``get_state``/``set_state``)."""
  local_batch_size = exp.config.batch_size // jax.process_count()
  return iter(pipeline.train_dataset(
      exp.train_source, exp.task.preprocess_train, local_batch_size=local_batch_size, seed=exp.config.seed,
      process_index=jax.process_index(), process_count=jax.process_count(),
      options=pipeline.read_options(exp.config.data.get("read_threads"), exp.config.data.get("prefetch_batches"))))


def make_jit_train_step(exp: Experiment) -> Callable:
  """The trainer's compiled step: ``train_step`` jitted over the mesh, the state donated."""
  accum_steps = exp.config.get("grad_accum_steps", 1)
  return compilation.jit(lambda s, b: train_step(s, b, task=exp.task, accum_steps=accum_steps),
                         in_shardings=(exp.state_sharding, exp.batch_sharding),
                         out_shardings=(exp.state_sharding, exp.replicated), donate_argnums=(0,))


def eval_step(state: TrainState, batch: dict[str, jax.Array], *, task: Any) -> Any:
  """The task's evaluation outputs for ``batch`` (e.g. metric sums, or predictions for an mAP evaluator)."""
  return task.eval_outputs(state.apply_fn, {"params": state.params, **state.model_state}, batch)


def global_batch(exp: Experiment, local_batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
  """This process's slice of a batch -> a global array sharded along the mesh's ``data`` axis."""
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(exp.batch_sharding, np.asarray(x)), local_batch)


def evaluate(exp: Experiment, state: TrainState, jit_eval_step: Callable,
             picture_dir: Optional[str] = None) -> dict[str, float]:
  """Runs the task's metrics over the whole eval split; returns ``{"eval/<name>": value}``.

  With ``picture_dir``, an evaluator that has ``write_pictures(directory)`` (e.g. detection) draws its
  predictions there.
  """
  local_batch_size = exp.config.get("eval_batch_size", exp.config.batch_size) // jax.process_count()
  evaluator = exp.task.make_evaluator()
  for batch in pipeline.eval_batches(exp.eval_source, exp.task.preprocess_eval,
                                     local_batch_size=local_batch_size,
                                     process_index=jax.process_index(), process_count=jax.process_count()):
    evaluator.add(jax.device_get(jit_eval_step(state, global_batch(exp, batch))))
  result = {f"eval/{k}": v for k, v in evaluator.result().items()}
  if picture_dir is not None and jax.process_index() == 0 and hasattr(evaluator, "write_pictures"):
    evaluator.write_pictures(picture_dir)
  return result


def write_pictures(exp: Experiment, state: TrainState, workdir: str, num_examples: int = 16) -> Optional[str]:
  """Tasks with ``visualize(apply_fn, variables, examples) -> uint8 picture`` (e.g. segmentation) get their
  predictions on the first eval examples drawn into ``workdir/predictions.png``; returns the path or None."""
  visualize = getattr(exp.task, "visualize", None)
  if visualize is None:
    return None
  variables = jax.device_get({"params": state.params, **state.model_state})
  examples = [exp.eval_source[i] for i in range(min(num_examples, len(exp.eval_source)))]
  return viz.save_png(os.path.join(workdir, "predictions.png"), visualize(state.apply_fn, variables, examples))


def _check_finite(state: TrainState, checkpointer: checkpointing.Checkpointer, workdir: str) -> None:
  bad = int(jax.device_get(state.nonfinite_step))
  if bad >= 0:
    checkpointer.wait()
    raise FloatingPointError(
        f"non-finite loss or gradient at step {bad}; training stopped. The last good checkpoint "
        f"(step {checkpointer.latest_step()}) is kept in {workdir}.")


def save_config(config: ml_collections.ConfigDict, workdir: str, config_path: Optional[str]) -> None:
  """Writes the resolved config (``config.json``) and a copy of the config file into the workdir."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  if config_path:
    shutil.copyfile(config_path, os.path.join(workdir, "config.py"))


def _jit_init(exp: Experiment) -> Callable:
  return jax.jit(lambda rng, v: create_train_state(exp, rng, v), out_shardings=exp.state_sharding)


def init_state(exp: Experiment) -> TrainState:
  """A fresh state, laid out over the mesh: ``config.seed``'s initialization, or the pretrained variables."""
  init, rng = _jit_init(exp), jax.random.PRNGKey(exp.config.seed)
  return compilation.compile_for_one_call(init, rng, exp.pretrained_variables)(rng, exp.pretrained_variables)


def restore_or_init(exp: Experiment, checkpointer: checkpointing.Checkpointer):
  """The latest checkpoint's ``(state, data_state, step)``, or a fresh state (``init_state``)."""
  latest = checkpointer.latest_step()
  if latest is None:
    return init_state(exp), None, 0
  abstract = jax.eval_shape(_jit_init(exp), jax.random.PRNGKey(exp.config.seed), exp.pretrained_variables)
  abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), abstract,
                          exp.state_sharding)
  state, data_state = checkpointer.restore(latest, abstract)
  return state, data_state, latest


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       config_path: Optional[str] = None, stop_after_steps: Optional[int] = None,
                       devices: Optional[list] = None, progress: bool = True) -> dict[str, float]:
  """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint) and returns the final metrics.

  ``stop_after_steps`` ends the process early after saving a checkpoint at that step, as a pre-emption
  would; a later call resumes from there.
  """
  exp = build_experiment(config, devices)
  is_main = jax.process_index() == 0
  if is_main:
    save_config(config, workdir, config_path)
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, "checkpoints"), every_steps=config.checkpoint_every_steps,
      keep=config.get("keep_checkpoints", 3), use_async=config.get("async_checkpoints", True))
  state, data_state, start_step = restore_or_init(exp, checkpointer)
  writer = metric_writers.MetricWriter(workdir, enabled=is_main)

  train_iter = train_batches(exp)
  if data_state is not None:
    train_iter.set_state(data_state)

  jit_train_step = make_jit_train_step(exp)
  # One compiled program for the logged rate: calling the optax schedule eagerly compiles its ops each time.
  learning_rate = jax.jit(exp.schedule)
  jit_eval_step = compilation.jit(lambda s, b: eval_step(s, b, task=exp.task),
                                  in_shardings=(exp.state_sharding, exp.batch_sharding),
                                  out_shardings=exp.replicated)

  total = config.total_steps
  log_every, eval_every = config.log_every_steps, config.eval_every_steps
  bar = None
  if progress and is_main:
    from tqdm import tqdm
    bar = tqdm(total=total, initial=start_step, desc=os.path.basename(os.path.normpath(workdir)),
               dynamic_ncols=True, mininterval=1.0, file=sys.stderr)
  pending, interval_start, interval_step = [], time.perf_counter(), start_step
  eval_metrics: dict[str, float] = {}
  train_start = time.perf_counter()
  step = start_step
  for step in range(start_step + 1, total + 1):
    state, metrics = jit_train_step(state, global_batch(exp, next(train_iter)))
    pending.append(metrics)
    if bar is not None:
      bar.update(1)
    if step % log_every == 0 or step == total:
      _check_finite(state, checkpointer, workdir)
      means = {f"train/{k}": float(np.mean([m[k] for m in jax.device_get(pending)]))
               for k in pending[0]}
      elapsed = time.perf_counter() - interval_start
      means["train/learning_rate"] = float(learning_rate(np.int32(step - 1)))
      means["train/images_per_second"] = (step - interval_step) * config.batch_size / elapsed
      writer.write(step, means)
      if bar is not None:
        bar.set_postfix(loss=f"{means['train/loss']:.4f}", refresh=False)
      pending, interval_start, interval_step = [], time.perf_counter(), step
    if step % eval_every == 0 or step == total:
      eval_metrics = evaluate(exp, state, jit_eval_step, picture_dir=workdir)
      writer.write(step, eval_metrics)
      interval_start = time.perf_counter()  # Keep eval time out of the images/s figure.
    if step % config.checkpoint_every_steps == 0 or step == total or step == stop_after_steps:
      _check_finite(state, checkpointer, workdir)
      checkpointer.save(step, state, train_iter.get_state(), force=True)
    if stop_after_steps is not None and step >= stop_after_steps:
      break
  checkpointer.wait()
  checkpointer.close()
  if bar is not None:
    bar.close()
  writer.close()
  summary = {"step": step, "train_seconds": time.perf_counter() - train_start, **eval_metrics}
  if hasattr(exp.task, "visualize") and jax.process_count() > 1:  # Sharded params: every process gathers.
    state = jax.jit(lambda s: s, out_shardings=exp.replicated)(state)
  if is_main:
    write_pictures(exp, state, workdir)
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
  return summary


def format_summary(summary: dict[str, float]) -> str:
  parts = [f"step {summary['step']}"]
  parts += [f"{k.removeprefix('eval/')} {v:.4f}" for k, v in summary.items() if k.startswith("eval/")]
  parts.append(f"train time {summary['train_seconds']:.1f}s")
  return "final: " + ", ".join(parts)


def initialize_distributed(args: argparse.Namespace) -> None:
  """Joins a multi-process run (several hosts, or several processes on one host) before JAX starts.

  ``--coordinator_address host:port --num_processes N --process_id I`` sets the run up explicitly;
  ``--distributed`` alone lets ``jax.distributed.initialize()`` detect it (Cloud TPU, SLURM, Kubernetes, or
  the ``JAX_COORDINATOR_ADDRESS``/``JAX_NUM_PROCESSES``/``JAX_PROCESS_ID`` environment variables).
  """
  if not (args.distributed or args.coordinator_address):
    return
  # CPU devices of different processes talk over gloo; this does not affect GPU or TPU collectives.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=args.coordinator_address,
                             num_processes=args.num_processes, process_id=args.process_id)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True, help="experiment config file with get_config()")
  parser.add_argument("--distributed", action="store_true",
                      help="join a multi-process run detected by jax.distributed.initialize()")
  parser.add_argument("--coordinator_address", default=None, help="host:port of process 0")
  parser.add_argument("--num_processes", type=int, default=None)
  parser.add_argument("--process_id", type=int, default=None)
  parser.add_argument("--workdir", required=True, help="checkpoints, metrics and the config copy go here")
  parser.add_argument("--stop_after_steps", type=int, default=None,
                      help="save a checkpoint and exit after this step, as a pre-emption would")
  args, rest = parser.parse_known_args(argv)
  overrides = [a for a in rest if a.startswith("--config.")]
  unknown = [a for a in rest if not a.startswith("--config.")]
  if unknown:
    parser.error(f"unrecognized arguments: {' '.join(unknown)} (config overrides are --config.key=value)")
  return args, overrides


def main(argv: Optional[list[str]] = None) -> None:
  args, overrides = parse_args(sys.argv[1:] if argv is None else argv)
  initialize_distributed(args)
  config = config_lib.load_config(args.config, overrides)
  summary = train_and_evaluate(config, args.workdir, config_path=args.config,
                               stop_after_steps=args.stop_after_steps)
  if jax.process_index() == 0:
    print(format_summary(summary), flush=True)


if __name__ == "__main__":
  main()
