r"""Model FLOPs utilization (MFU) of the trainer's step: ResNet-50, ViT-B/16, U-Net and CLIP, fp32 and bf16.

    python experiments/benchmarks/mfu.py [--models resnet50,vit_b16,unet,clip] [--dtypes float32,bfloat16]
        [--batch_size 128] [--image_size 0] [--steps 20] [--warmup_steps 2] [--peak_tflops X] [--step_ms T]

For each model and compute dtype (``config.dtype``: the model computes in it, parameters and optimizer state
stay float32), the step is the trainer's own: ``jvision.train.build_task_model_optimizer`` builds task, model
and optimizer from a config, ``create_train_state`` the state and ``make_jit_train_step`` the jitted, donated
``train_step`` (forward, backward, optimizer update, non-finite guard) over a mesh of all devices. The batch is
one synthetic raw example (random pixels) through the task's own ``preprocess_train``, repeated ``batch_size``
times; no dataset is read (``input_pipeline.py`` measures the data side).

FLOPs per step are the model FLOPs of the traced step (``jvision.flops.step_matmul_flops``: twice the
multiply-adds of every matmul and convolution, forward and backward, the same on every backend). XLA's count
for the compiled step (``jvision.flops.compiled_flops``) is printed beside it: it adds elementwise ops and the
optimizer update, but on a GPU it misses the convolutions that run as cuDNN custom calls. The step time is the
mean over ``--steps`` steps after ``--warmup_steps`` (compilation is outside both), synchronised with
``block_until_ready``. MFU = FLOPs per device / step time / peak FLOP/s per device. The peak comes from
``jvision.flops.PEAK_TFLOPS`` keyed on ``jax.devices()[0].device_kind``, from ``/proc/cpuinfo`` on a CPU (the
formula and its assumption are printed), or from ``--peak_tflops`` (per device, overrides both).

The configs (real sizes by default; ``--image_size`` shrinks all of them for a CPU):
  resnet50  torchvision's ResNet-50, 1000 classes, 224 px, SGD + momentum (Goyal et al. 2017).
  vit_b16   ViT-B/16, 1000 classes, 224 px, AdamW (Dosovitskiy et al. 2021).
  unet      U-Net with the paper's widths (64 ... 1024, 5 levels), 2 classes (experiments/unet_pets.py's task),
            256 px, AdamW.
  clip      CLIP ViT-B/32 (experiments/clip_coco.py: 224 px, 77 tokens, vocabulary 49,408), softmax loss,
            AdamW. Captions go through the built-in word tokenizer instead of OpenAI's BPE (whose merges file
            is not shipped): only the token ids differ, not the shapes or the FLOPs.
"""

from __future__ import annotations

import argparse
import gc
import math

import jax
import ml_collections
import numpy as np

from jvision import config as config_lib, flops, train
from jvision.data import pipeline

DEFAULT_IMAGE_SIZE = {"resnet50": 224, "vit_b16": 224, "unet": 256, "clip": 224}


def _config(task: dict, model: dict, optimizer: dict, dtype: str, batch_size: int) -> ml_collections.ConfigDict:
  """A trainer config around ``task``, ``model`` and ``optimizer`` (no data is read)."""
  config = ml_collections.ConfigDict({
      "seed": 0, "dtype": dtype, "batch_size": batch_size, "total_steps": 1000,
      "data": {"name": "synthetic"}, "task": task, "model": model, "optimizer": optimizer,
      "schedule": {"name": "cosine", "warmup_steps": 0}, **config_lib.DEFAULTS})
  config_lib.validate(config)
  return config


def benchmark_config(name: str, dtype: str, batch_size: int, image_size: int) -> ml_collections.ConfigDict:
  """The config of benchmark model ``name`` (see the module docstring)."""
  adamw = {"name": "adamw", "learning_rate": 1e-3, "weight_decay": 0.05, "grad_clip_norm": 1.0}
  if name == "resnet50":
    return _config({"name": "classification", "num_classes": 1000, "flip": True},
                   {"name": "resnet50", "num_classes": 1000},
                   {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 1e-4},
                   dtype, batch_size)
  if name == "vit_b16":
    return _config({"name": "classification", "num_classes": 1000, "flip": True},
                   {"name": "vit_b16", "num_classes": 1000, "image_size": image_size}, adamw, dtype, batch_size)
  if name == "unet":
    return _config({"name": "segmentation", "num_classes": 2, "dataset": "oxford_iiit_pet",
                    "image_size": image_size},
                   {"name": "unet", "num_classes": 2, "width": 64, "depth": 5, "batch_norm": True},
                   adamw, dtype, batch_size)
  if name == "clip":
    return _config({"name": "contrastive", "dataset": "shapes/single_64", "image_size": image_size,
                    "context_length": 77, "tokenizer": "words", "vocab_size": 49408, "loss": "softmax"},
                   {"name": "clip_vit_b32", "image_size": image_size, "context_length": 77, "vocab_size": 49408},
                   adamw, dtype, batch_size)
  raise KeyError(f"unknown benchmark model {name!r}; known: {', '.join(DEFAULT_IMAGE_SIZE)}")


def synthetic_example(task_name: str, image_size: int) -> dict:
  """One raw example in the layout the task's dataset adapter reads, with random pixels."""
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (image_size, image_size, 3), np.uint8)
  if task_name == "classification":
    return {"image": image, "label": np.int64(0)}
  if task_name == "segmentation":  # oxford_iiit_pet: a trimap of 1 (pet), 2 (background), 3 (border).
    return {"image": image, "segmentation_mask": rng.integers(1, 4, (image_size, image_size, 1), np.uint8),
            "label": np.int64(0), "file_name": "synthetic_1.jpg"}
  if task_name == "contrastive":
    return {"image": image, "caption": "a large red star in the top left"}
  raise KeyError(f"no synthetic example for task {task_name!r}")


def measure(name: str, dtype: str, batch_size: int, image_size: int, steps: int, warmup_steps: int,
            step_ms: float = 0.0) -> dict:
  """Builds the trainer's step for ``name`` and returns its FLOPs per device and mean step time.

  With ``step_ms`` the step is only traced (for its FLOPs), not compiled or timed: the given time is used."""
  config = benchmark_config(name, dtype, batch_size, image_size)
  mesh = train.create_mesh()
  task, model, schedule, tx = train.build_task_model_optimizer(config, mesh)
  source = [synthetic_example(config.task.name, image_size)]
  exp = train.Experiment(config, task, model, tx, schedule, mesh, train_source=source, eval_source=source)
  state = train.init_state(exp)
  example = task.preprocess_train(source[0], np.random.default_rng(0))
  batch = train.global_batch(exp, pipeline.stack_examples([example] * batch_size))
  train_step = train.make_jit_train_step(exp)
  # Global count of the matmuls and convolutions; the step is data-parallel.
  flops_per_device = flops.step_matmul_flops(train_step, state, batch) / mesh.size
  if step_ms:
    return {"flops_per_device": flops_per_device, "compiled_flops_per_device": None,
            "step_seconds": step_ms / 1e3}
  compiled = train_step.lower(state, batch).compile()
  compiled_per_device = flops.compiled_flops(compiled)
  state, metrics, seconds = flops.time_steps(compiled, state, batch, steps, warmup_steps)
  if not np.isfinite(float(metrics["loss"])):
    raise FloatingPointError(f"{name} {dtype}: non-finite loss; the timing would be of a frozen state")
  return {"flops_per_device": flops_per_device, "compiled_flops_per_device": compiled_per_device,
          "step_seconds": seconds}


def peak_flops(dtype: str, peak_tflops: float) -> tuple[float | None, str]:
  """Peak FLOP/s per device for ``dtype`` and where the number comes from."""
  if peak_tflops:
    return peak_tflops * 1e12, f"--peak_tflops {peak_tflops}"
  device = jax.devices()[0]
  if device.platform == "cpu":
    peak, formula = flops.this_cpu_peak_flops(dtype)
    return peak, f"estimated: {formula}"
  peak = flops.accelerator_peak_flops(device.device_kind, dtype)
  if peak is None:
    return None, f"unknown for {device.device_kind!r} {dtype}: pass --peak_tflops"
  return peak, f"{peak / 1e12:g} TFLOP/s dense ({device.device_kind}, jvision.flops.PEAK_TFLOPS)"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", default="resnet50,vit_b16,unet,clip")
  parser.add_argument("--dtypes", default="float32,bfloat16")
  parser.add_argument("--batch_size", type=int, default=128, help="global batch (over all devices)")
  parser.add_argument("--image_size", type=int, default=0, help="0: each model's real size (224, 256 for U-Net)")
  parser.add_argument("--steps", type=int, default=20, help="timed steps")
  parser.add_argument("--warmup_steps", type=int, default=2, help="untimed steps after compilation")
  parser.add_argument("--peak_tflops", type=float, default=0.0, help="peak TFLOP/s per device (0: table/CPU)")
  parser.add_argument("--step_ms", type=float, default=0.0,
                      help="a step time measured elsewhere (one model, one dtype, with that device's "
                           "--peak_tflops): the step is traced for its FLOPs, not run, and the MFU of that time "
                           "is printed (0: time the step here)")
  args = parser.parse_args()
  several = "," in args.models or "," in args.dtypes
  if not math.isfinite(args.step_ms) or args.step_ms < 0 or (args.step_ms and several):
    parser.error(f"--step_ms must be finite, positive and given for one model and one dtype; got {args.step_ms} for "
                 f"--models {args.models} --dtypes {args.dtypes}")
  if args.step_ms and not args.peak_tflops:
    parser.error("--step_ms needs --peak_tflops: the time was measured on another device, whose peak this "
                 "machine cannot know")

  devices = jax.devices()
  print(f"devices: {len(devices)} x {devices[0].device_kind} ({devices[0].platform})")
  dtypes = args.dtypes.split(",")
  peaks = {dtype: peak_flops(dtype, args.peak_tflops) for dtype in dtypes}
  for dtype, (_, source) in peaks.items():
    print(f"peak {dtype} per device: {source}")
  if devices[0].platform == "cpu" and not args.peak_tflops:
    print("CPU peak assumption: one fused multiply-add (2 FLOPs) per vector lane per core per cycle "
          "(AVX-512 16 fp32 lanes, AVX2+FMA 8); bf16 x2 with AVX512_BF16; clock = /proc/cpuinfo 'cpu MHz'")
  print("| model | dtype | batch | image size | GFLOPs/step | compiled GFLOPs/step | step time (ms) | images/s | "
        "achieved TFLOP/s | MFU % |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for name in args.models.split(","):
    image_size = args.image_size or DEFAULT_IMAGE_SIZE[name]
    for dtype in dtypes:
      result = measure(name, dtype, args.batch_size, image_size, args.steps, args.warmup_steps, args.step_ms)
      jax.clear_caches()  # Each compiled step holds its buffers; CLIP's compilation alone needs GBs on a CPU.
      gc.collect()
      total_flops = result["flops_per_device"] * len(devices)
      achieved = total_flops / result["step_seconds"]
      peak = peaks[dtype][0]
      utilization = (f"{100 * flops.mfu(result['flops_per_device'], result['step_seconds'], peak):.1f}"
                     if peak else "-")
      compiled = result["compiled_flops_per_device"]
      compiled_total = f"{compiled * len(devices) / 1e9:,.1f}" if compiled is not None else "-"
      images_per_second = args.batch_size / result["step_seconds"]
      print(f"| {name} | {dtype} | {args.batch_size} | {image_size} | {total_flops / 1e9:,.1f} | "
            f"{compiled_total} | {1e3 * result['step_seconds']:,.1f} | {images_per_second:,.0f} | "
            f"{achieved / 1e12:.3f} | {utilization} |", flush=True)


if __name__ == "__main__":
  main()
