"""Build time of the embedded shapes dataset and throughput of its detection pipeline on this machine.

  python experiments/benchmarks/shapes_data.py --config multi --data_dir /tmp/shapes-bench

Builds ``shapes/<config>`` from scratch into a fresh ``data_dir`` (delete it to measure again), then reads
``--batches`` training batches (SSD augmentation, instance masks, 128 px, 8 objects) through grain.
"""

import argparse
import os
import resource
import time

import numpy as np

from jvision.data import data_source
from jvision.data import detection_pipeline
from jvision.data import shapes
from jvision.data import shapes_scenes


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="multi")
  parser.add_argument("--data_dir", default="/tmp/shapes-bench")
  parser.add_argument("--batches", type=int, default=20)
  parser.add_argument("--batch_size", type=int, default=32)
  args = parser.parse_args()
  name = f"shapes/{args.config}"

  start = time.perf_counter()
  cpu_start = resource.getrusage(resource.RUSAGE_SELF)
  train = data_source(name, "train", data_dir=args.data_dir)
  test = data_source(name, "test", data_dir=args.data_dir)
  build_seconds = time.perf_counter() - start
  cpu_end = resource.getrusage(resource.RUSAGE_SELF)
  workers = resource.getrusage(resource.RUSAGE_CHILDREN)
  main_cpu = cpu_end.ru_utime + cpu_end.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime
  worker_cpu = workers.ru_utime + workers.ru_stime
  size_bytes = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(args.data_dir)
                   for f in files)

  start = time.perf_counter()
  for index in range(500):
    train[index]
  read_ms = (time.perf_counter() - start) / 500 * 1e3

  # Where a worker's time goes: rendering the scene vs PNG-encoding image and masks (one process, 200 scenes),
  # measured before the loader below starts grain's prefetch threads.
  config = next(c for c in shapes.Shapes.BUILDER_CONFIGS if c.name == args.config)
  shapes_scenes.encode_png(shapes_scenes.generate_scene(np.random.default_rng(0)).image)  # Load pictures.
  scenes, start = [], time.perf_counter()
  for index in range(200):
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0, index]))
    scenes.append(shapes_scenes.generate_scene(rng, config.image_size, config.min_objects, config.max_objects))
  render_ms = (time.perf_counter() - start) / 200 * 1e3
  start = time.perf_counter()
  for scene in scenes:
    shapes_scenes.encode_png(scene.image)
    shapes_scenes.encode_png(scene.segmentation)
    for mask in scene.masks:
      shapes_scenes.encode_png(mask.astype(np.uint8))
  encode_ms = (time.perf_counter() - start) / 200 * 1e3

  loader = detection_pipeline.make_loader(name, "train", train=True, batch_size=args.batch_size,
                                          image_size=train[0]["image"].shape[0], max_objects=8,
                                          data_dir=args.data_dir, with_masks=True, num_epochs=None)
  iterator = iter(loader)
  next(iterator)
  start = time.perf_counter()
  for _ in range(args.batches):
    next(iterator)
  pipeline_rate = args.batches * args.batch_size / (time.perf_counter() - start)

  print(f"{name}: train {len(train)} / test {len(test)} examples")
  print(f"build (or open if cached) : {build_seconds:.1f} s wall, CPU {main_cpu:.1f} s in this process + "
        f"{worker_cpu:.1f} s in render workers (load average now {os.getloadavg()[0]:.1f})")
  print(f"size on disk              : {size_bytes / 2**20:.0f} MiB")
  print(f"per example, one process  : render {render_ms:.2f} ms, PNG encode {encode_ms:.2f} ms")
  print(f"random read + decode      : {read_ms:.2f} ms / example")
  print(f"train pipeline (1 process): {pipeline_rate:.0f} examples / s")


if __name__ == "__main__":
  main()
