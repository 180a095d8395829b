"""Timings of the detection primitives and of the COCO evaluator against pycocotools.

  python experiments/benchmarks/detection_ops.py            # everything
  python experiments/benchmarks/detection_ops.py --only coco --num_images 500
  python experiments/benchmarks/detection_ops.py --only segm --num_images 1000

Prints: NMS on 1k/5k/20k boxes (jit, after warm-up), RoIAlign of 512 RoIs on a 64x64x256 map forward and
backward, and ``coco_evaluate`` vs ``pycocotools`` wall time on synthetic detections (default 5,000 images x
100 detections), with both sets of stats side by side; ``segm`` does the same for mask AP on ellipses inscribed in
those boxes (compressed RLE, 640x480 images; default 1,000 images). pycocotools is a test-only dependency.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import time

import numpy as np


def best_of(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def synthetic_coco(num_images, detections_per_image, num_categories=80, seed=0):
  """COCO-like ground truth (about 7 boxes per image, 1% crowd) and detections: noisy copies plus clutter."""
  rng = np.random.default_rng(seed)
  images = [{"id": i + 1, "width": 640, "height": 480} for i in range(num_images)]
  annotations, detections = [], []
  for image in images:
    num_gt = rng.poisson(7)
    sizes = np.exp(rng.uniform(np.log(8), np.log(300), (num_gt, 2)))
    corners = rng.uniform(0, 1, (num_gt, 2)) * (np.array([640, 480]) - sizes).clip(1)
    categories = rng.integers(1, num_categories + 1, num_gt)
    for box_xy, box_wh, category in zip(corners, sizes, categories):
      annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": int(category),
                          "bbox": [*map(float, box_xy), *map(float, box_wh)],
                          "area": float(box_wh.prod() * rng.uniform(0.6, 1.0)),
                          "iscrowd": int(rng.uniform() < 0.01)})
    num_copies = min(num_gt * 3, detections_per_image // 2)
    source = rng.integers(0, max(num_gt, 1), num_copies)
    for d in range(detections_per_image):
      if d < num_copies and num_gt:
        xy, wh = corners[source[d]], sizes[source[d]]
        jitter = rng.normal(0, 0.1, 4) * np.concatenate([wh, wh])
        box = [xy[0] + jitter[0], xy[1] + jitter[1], max(wh[0] + jitter[2], 1), max(wh[1] + jitter[3], 1)]
        category = int(categories[source[d]]) if rng.uniform() < 0.9 else int(rng.integers(1, num_categories + 1))
        score = rng.uniform(0.3, 1.0)
      else:
        wh = np.exp(rng.uniform(np.log(8), np.log(300), 2))
        box = [*rng.uniform(0, 400, 2), *wh]
        category = int(rng.integers(1, num_categories + 1))
        score = rng.uniform(0.0, 0.7)
      detections.append({"image_id": image["id"], "category_id": category, "bbox": [float(v) for v in box],
                         "score": float(score)})
  categories = [{"id": c, "name": f"class{c}"} for c in range(1, num_categories + 1)]
  return {"images": images, "annotations": annotations, "categories": categories}, detections


def random_boxes(rng, num, image_size=1024.0):
  """Boxes clustered around a few hundred centres, so that NMS has work to do."""
  centres = rng.uniform(0, image_size, (max(num // 20, 1), 2))[rng.integers(0, max(num // 20, 1), num)]
  centres += rng.normal(0, 8, (num, 2))
  sizes = np.exp(rng.uniform(np.log(16), np.log(256), (num, 2)))
  return np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)


def benchmark_nms(repeats):
  import jax

  from jvision.ops.nms import nms

  print("\nNMS (jit, after warm-up; IoU 0.5, max_output_size 1000; best of %d)" % repeats)
  print(f"{'boxes':>7} {'kept':>6} {'ms':>9}")
  rng = np.random.default_rng(0)
  fn = jax.jit(functools.partial(nms, iou_threshold=0.5, max_output_size=1000))
  for num in (1000, 5000, 20000):
    boxes = jax.device_put(random_boxes(rng, num))
    scores = jax.device_put(rng.uniform(size=num).astype(np.float32))
    kept = fn(boxes, scores).block_until_ready()
    seconds = best_of(lambda: fn(boxes, scores).block_until_ready(), repeats)
    print(f"{num:>7} {int((np.asarray(kept) >= 0).sum()):>6} {seconds * 1e3:9.2f}")


def benchmark_roi_align(repeats):
  import jax
  import jax.numpy as jnp

  from jvision.ops import roi

  print("\nRoIAlign: 512 RoIs, 64x64x256 map (stride 16), 7x7 output, sampling_ratio 2, aligned "
        "(jit, after warm-up; best of %d)" % repeats)
  rng = np.random.default_rng(0)
  features = jax.device_put(rng.normal(size=(1, 64, 64, 256)).astype(np.float32))
  boxes = jax.device_put(np.clip(random_boxes(rng, 512), 0, 1023))
  indices = jnp.zeros((512,), jnp.int32)
  align = functools.partial(roi.roi_align, output_size=7, spatial_scale=1 / 16, sampling_ratio=2, aligned=True)
  forward = jax.jit(align)
  cotangent = jax.device_put(rng.normal(size=(512, 7, 7, 256)).astype(np.float32))
  backward = jax.jit(jax.grad(lambda f, b, i: jnp.vdot(align(f, b, i), cotangent)))
  for name, fn in (("forward", forward), ("backward (grad wrt features)", backward)):
    fn(features, boxes, indices).block_until_ready()
    seconds = best_of(lambda: fn(features, boxes, indices).block_until_ready(), repeats)
    print(f"{name:>30}: {seconds * 1e3:8.2f} ms")


def benchmark_coco(num_images, detections_per_image):
  from pycocotools.coco import COCO
  from pycocotools.cocoeval import COCOeval

  from jvision.metrics import coco, detection

  ground_truth, detections = synthetic_coco(num_images, detections_per_image)
  print(f"\nCOCO evaluation: {num_images} images x {detections_per_image} detections, "
        f"{len(ground_truth['annotations'])} ground-truth boxes")

  start = time.perf_counter()
  ours = detection.coco_evaluate(ground_truth, detections)
  ours_time = time.perf_counter() - start

  start = time.perf_counter()
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = ground_truth
    gt.createIndex()
    dt = gt.loadRes([dict(d) for d in detections])
    evaluator = COCOeval(gt, dt, "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  reference_time = time.perf_counter() - start

  print(f"{'stat':>6} {'jvision':>10} {'pycocotools':>12}")
  for name, value in zip(coco.STAT_NAMES, evaluator.stats):
    print(f"{name:>6} {ours[name]:10.6f} {value:12.6f}")
  difference = max(abs(ours[name] - value) for name, value in zip(coco.STAT_NAMES, evaluator.stats))
  print(f"max |difference| = {difference:.2e}")
  print(f"wall time: jvision {ours_time:.2f} s, pycocotools {reference_time:.2f} s, "
        f"speed-up {reference_time / ours_time:.1f}x")


def ellipse_rle(box, height, width):
  """Compressed COCO RLE of the ellipse inscribed in an xywh box, built column by column (no dense mask)."""
  import pycocotools.mask as mask_utils

  x, y, w, h = box
  columns = np.arange(max(int(np.floor(x)), 0), min(int(np.ceil(x + w)), width))
  dx = (columns + 0.5 - (x + w / 2)) / max(w / 2, 1e-9)
  half = h / 2 * np.sqrt(np.clip(1 - dx ** 2, 0, None))
  top = np.clip(np.ceil(y + h / 2 - half - 0.5), 0, height).astype(np.int64)
  bottom = np.clip(np.floor(y + h / 2 + half - 0.5) + 1, 0, height).astype(np.int64)
  keep = (np.abs(dx) < 1) & (bottom > top)
  starts, ends = columns[keep] * height + top[keep], columns[keep] * height + bottom[keep]
  boundaries = np.stack([starts, ends], 1).reshape(-1)
  counts = np.diff(np.concatenate([[0], boundaries, [height * width]])).tolist()
  rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
  return {"size": [height, width], "counts": rle["counts"].decode("ascii")}, int((ends - starts).sum())


def benchmark_coco_segm(num_images, detections_per_image):
  from pycocotools.coco import COCO
  from pycocotools.cocoeval import COCOeval

  from jvision.metrics import coco, detection

  ground_truth, detections = synthetic_coco(num_images, detections_per_image)
  for annotation in ground_truth["annotations"]:
    annotation["segmentation"], annotation["area"] = ellipse_rle(annotation["bbox"], 480, 640)
  for record in detections:
    record["segmentation"], _ = ellipse_rle(record["bbox"], 480, 640)
  print(f"\nCOCO mask (segm) evaluation: {num_images} images x {detections_per_image} detections, "
        f"{len(ground_truth['annotations'])} ground-truth masks (ellipses in the boxes, compressed RLE, 640x480)")

  start = time.perf_counter()
  ours = detection.coco_evaluate(ground_truth, detections, iou_type="segm")
  ours_time = time.perf_counter() - start

  start = time.perf_counter()
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = ground_truth
    gt.createIndex()
    dt = gt.loadRes([dict(d, segmentation=dict(d["segmentation"])) for d in detections])
    evaluator = COCOeval(gt, dt, "segm")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  reference_time = time.perf_counter() - start

  print(f"{'stat':>6} {'jvision':>10} {'pycocotools':>12}")
  for name, value in zip(coco.STAT_NAMES, evaluator.stats):
    print(f"{name:>6} {ours[name]:10.6f} {value:12.6f}")
  difference = max(abs(ours[name] - value) for name, value in zip(coco.STAT_NAMES, evaluator.stats))
  print(f"max |difference| = {difference:.2e}")
  print(f"wall time: jvision {ours_time:.2f} s, pycocotools {reference_time:.2f} s, "
        f"speed-up {reference_time / ours_time:.1f}x")


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--only", choices=["nms", "roi_align", "coco", "segm"], default=None)
  parser.add_argument("--num_images", type=int, default=None,
                      help="images for the COCO evaluations (default 5,000 for boxes, 1,000 for masks)")
  parser.add_argument("--detections_per_image", type=int, default=100)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  import jax
  print(f"devices: {jax.devices()}")
  if args.only in (None, "nms"):
    benchmark_nms(args.repeats)
  if args.only in (None, "roi_align"):
    benchmark_roi_align(args.repeats)
  if args.only in (None, "coco"):
    benchmark_coco(args.num_images or 5000, args.detections_per_image)
  if args.only in (None, "segm"):
    benchmark_coco_segm(args.num_images or 1000, args.detections_per_image)


if __name__ == "__main__":
  main()
