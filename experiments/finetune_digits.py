r"""Fine-tuning as d2l.ai teaches it (Section 14.2), measured: a pretrained ResNet -> 200 handwritten digits.

    python experiments/finetune_digits.py --workdir runs/finetune_digits [--source printed_digits|shapes] \
        [--seeds 0,1] [--steps 200] [--set data.train_split=train[:50]]

The driver (1) pretrains a narrow ResNet-18 on the source task (skipped when `<workdir>/pretrain_<source>`
has finished): `printed_digits` (default, `experiments/pretrain_printed_digits.py`: typeset digits made in
optdigits' 8x8 format, the same classes in another domain) or `shapes` (`experiments/pretrain_shapes.py`:
shape classification); (2) exports it as a torchvision-named state dict `<workdir>/<source>_resnet18.npz`
(`jvision.models.weights.torchvision.export_torchvision`); and (3) trains on the first 200 training images of
`digits` (about 20 per class, upscaled from 8 px to 32 px, grey repeated to RGB) three ways, at equal steps,
data, batches and head learning rate:

- scratch: random init, one learning rate for every parameter;
- fine-tune: the `.npz` imported like a downloaded file, a new 10-class head, backbone at 0.1x the rate
  (`optax.multi_transform` by parameter path, `jvision.finetune`);
- linear probe: the same import, the backbone frozen (its updates are zero; BatchNorm statistics still adapt).

It prints a markdown table (test accuracy on all 360 test digits, mean and min-max over the seeds, wall time
per run) and writes it to `<workdir>/finetune.md`. A workdir holds one setting (source, steps, overrides):
the runs in it resume, so another setting is refused there. Measured (README, "Backbones, pretrained weights,
fine-tuning"): from printed digits, fine-tuning beats scratch (0.961 vs 0.954 with 200 digits, 0.860 vs
0.765 with 50); from shapes it does not. One variant alone runs through the generic trainer:

    python -m jvision.train --config experiments/finetune_digits.py --workdir runs/finetune_digits/one \
        --config.finetune.weights=runs/finetune_digits/printed_digits_resnet18.npz
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional, Sequence

import ml_collections
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Source tasks: name -> pretraining config.
PRETRAIN_CONFIGS = {
    "printed_digits": os.path.join(REPO, "experiments", "pretrain_printed_digits.py"),
    "shapes": os.path.join(REPO, "experiments", "pretrain_shapes.py"),
}
ARCHITECTURE = "resnet18"


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "digits"
  config.data.train_split = "train[:200]"  # Few labels: the first 200 of the 1,437 training digits.
  config.data.eval_split = "test"
  config.data.data_dir = ""

  config.task = ml_collections.ConfigDict()
  config.task.name = "classification"
  config.task.num_classes = 10
  config.task.image_size = 32
  config.task.channels = 3  # The pretrained stem reads RGB.
  config.task.mean = (0.5,)  # The source task's normalization, as with any pretrained model.
  config.task.std = (0.25,)
  config.task.crop_padding = 2
  config.task.flip = False  # Digits are not mirror-symmetric.

  config.model = ml_collections.ConfigDict()
  config.model.name = ARCHITECTURE
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.width = 16  # Must match the pretrained file (the import checks every shape).
  config.model.cifar_stem = False

  config.finetune = ml_collections.ConfigDict()
  config.finetune.weights = ""  # A torchvision-named state dict; "" trains from scratch.
  config.finetune.backbone_lr_multiplier = 1.0  # 0.1: d2l's lower backbone rate; 0: frozen (linear probe).

  config.batch_size = 32
  config.total_steps = 200  # 32 epochs of the 200 images.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 3e-3
  config.optimizer.weight_decay = 1e-4
  config.optimizer.grad_clip_norm = 0.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"
  config.schedule.warmup_steps = 20

  config.log_every_steps = 50
  config.eval_every_steps = 200
  config.eval_batch_size = 120
  config.checkpoint_every_steps = 200
  config.keep_checkpoints = 1
  config.async_checkpoints = False
  return config


# (run name, row label, overrides); "{weights}" becomes the exported file.
VARIANTS = [
    ("scratch", "scratch", ["finetune.weights=", "finetune.backbone_lr_multiplier=1.0"]),
    ("finetune", "fine-tune (backbone lr x0.1)",
     ["finetune.weights={weights}", "finetune.backbone_lr_multiplier=0.1"]),
    ("probe", "linear probe (backbone frozen)",
     ["finetune.weights={weights}", "finetune.backbone_lr_multiplier=0.0"]),
]


def export_pretrained(pretrain_config: ml_collections.ConfigDict, pretrain_dir: str, path: str,
                      devices: Optional[list] = None) -> None:
  """The latest checkpoint of the pretraining run -> a torchvision-named ``.npz`` state dict at ``path``."""
  import jax
  from jvision import checkpointing, train
  from jvision.models.weights import files, torchvision

  exp = train.build_experiment(pretrain_config, devices)
  checkpointer = checkpointing.Checkpointer(os.path.join(pretrain_dir, "checkpoints"), every_steps=1, keep=1,
                                            use_async=False)
  state, _, step = train.restore_or_init(exp, checkpointer)
  checkpointer.close()
  if step == 0:
    raise FileNotFoundError(f"no pretraining checkpoint in {pretrain_dir}")
  variables = jax.device_get({"params": state.params, **state.model_state})
  files.save_state_dict(path, torchvision.export_torchvision(pretrain_config.model.name, variables))


def run(workdir: str, steps: int, seeds: list[int], source: str = "printed_digits",
        pretrain_overrides: list[str] = (), config_overrides: list[str] = (),
        variants: Sequence[str] = ("scratch", "finetune", "probe"),
        devices: Optional[list] = None) -> tuple[str, dict]:
  """Pretrains on ``source`` (once, in ``<workdir>/pretrain_<source>``), exports, trains each of
  ``variants`` for every seed (in ``<workdir>/<variant>-seed<seed>``); returns the markdown table and
  ``{row label: [(test accuracy, seconds), ...]}``."""
  from jvision import config as config_lib, train

  unknown = set(variants) - {slug for slug, _, _ in VARIANTS}
  if unknown:
    raise ValueError(f"unknown variants {sorted(unknown)}; known: {', '.join(s for s, _, _ in VARIANTS)}")
  if source not in PRETRAIN_CONFIGS:
    raise ValueError(f"unknown source {source!r}; known: {', '.join(PRETRAIN_CONFIGS)}")
  # The runs below resume from their workdirs: a workdir holds one setting, never a mix of two.
  settings = {"source": source, "steps": steps, "pretrain_overrides": list(pretrain_overrides),
              "config_overrides": list(config_overrides)}
  os.makedirs(workdir, exist_ok=True)
  settings_path = os.path.join(workdir, "finetune_settings.json")
  if os.path.exists(settings_path):
    with open(settings_path) as f:
      previous = json.load(f)
    if previous != settings:
      raise ValueError(f"{workdir} holds runs made with {previous}, not {settings}; use another --workdir")
  with open(settings_path, "w") as f:
    json.dump(settings, f)
  pretrain_dir = os.path.join(workdir, f"pretrain_{source}")
  pretrain_config = config_lib.load_config(PRETRAIN_CONFIGS[source], pretrain_overrides)
  if not os.path.exists(os.path.join(pretrain_dir, "summary.json")):
    summary = train.train_and_evaluate(pretrain_config, pretrain_dir, progress=False, devices=devices)
    print(f"pretraining on {source}: {train.format_summary(summary)}", file=sys.stderr, flush=True)
  weights = os.path.join(workdir, f"{source}_{ARCHITECTURE}.npz")
  export_pretrained(pretrain_config, pretrain_dir, weights, devices)

  results: dict[str, list[tuple[float, float]]] = {}
  for slug, variant, overrides in (v for v in VARIANTS if v[0] in variants):
    for seed in seeds:
      config = config_lib.load_config(os.path.abspath(__file__), [
          *[o.format(weights=weights) for o in overrides], f"seed={seed}", f"total_steps={steps}",
          f"eval_every_steps={steps}", f"checkpoint_every_steps={steps}", *config_overrides])
      start = time.perf_counter()
      summary = train.train_and_evaluate(config, os.path.join(workdir, f"{slug}-seed{seed}"), progress=False,
                                         devices=devices)
      elapsed = time.perf_counter() - start
      results.setdefault(variant, []).append((summary["eval/accuracy"], elapsed))
      print(f"{variant:32s} seed {seed}: test accuracy {summary['eval/accuracy']:.4f}  {elapsed:.1f}s",
            file=sys.stderr, flush=True)
  lines = [f"| variant | test accuracy (mean of {len(seeds)} seeds) | min - max | time per run (s) |",
           "|---|---|---|---|"]
  for variant, runs in results.items():
    accuracies = [a for a, _ in runs]
    lines.append(f"| {variant} | {np.mean(accuracies):.4f} | {min(accuracies):.4f} - {max(accuracies):.4f} | "
                 f"{np.mean([t for _, t in runs]):.1f} |")
  return "\n".join(lines), results


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--source", default="printed_digits", choices=sorted(PRETRAIN_CONFIGS),
                      help="the pretraining task")
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--seeds", default="0,1", help="comma-separated seeds; each variant trains once per seed")
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override of the digits runs' config, e.g. --set data.train_split=train[:50]")
  args = parser.parse_args()
  table, _ = run(args.workdir, args.steps, [int(s) for s in args.seeds.split(",")], source=args.source,
                 config_overrides=args.set)
  os.makedirs(args.workdir, exist_ok=True)
  with open(os.path.join(args.workdir, "finetune.md"), "w") as f:
    f.write(table + "\n")
  print(table)


if __name__ == "__main__":
  main()
