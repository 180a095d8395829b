"""Recall and speed of selective search proposals (``jvision.proposals``) on a detection dataset split.

  TFDS_DATA_DIR=/tmp/tfds-ssearch python experiments/benchmarks/proposals.py --dataset shapes/multi --split test

For each image: ``selective_search`` in this process (timed, one image at a time), then every ground-truth box's
best IoU over the proposals (``jvision.ops.boxes.box_iou``). Recall at IoU t = the fraction of ground-truth
boxes whose best IoU is >= t, over all objects of the split (crowd / difficult ones excluded), as in
Uijlings et al. (2013, sec. 5) and Hosang et al. ("What makes for effective detection proposals?", PAMI 2016).
Also printed: recall when only the best-ranked N proposals of each image are kept.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jvision.data import adapters
from jvision.data import data_source
from jvision.ops.boxes import box_iou
from jvision.proposals import selective_search


@jax.jit
def best_iou_at_ranks(gt_boxes, proposals, valid, ranks):
  """Best IoU of each gt box [G] over the first ``ranks[r]`` valid proposals: [R, G]."""
  iou = jnp.where(valid[None, :], box_iou(gt_boxes, proposals), 0.0)  # [G, P]
  within = jnp.arange(proposals.shape[0])[None, :] < ranks[:, None]  # [R, P]
  return jnp.max(jnp.where(within[:, None, :], iou[None], 0.0), axis=-1)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dataset", default="shapes/multi")
  parser.add_argument("--split", default="test")
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--num_examples", type=int, default=None, help="default: the whole split")
  parser.add_argument("--mode", default="fast")
  parser.add_argument("--max_proposals", type=int, default=2000)
  parser.add_argument("--min_size", type=int, default=20)
  parser.add_argument("--max_objects", type=int, default=64, help="ground-truth padding (static shapes)")
  args = parser.parse_args(argv)

  source = data_source(args.dataset, args.split, data_dir=args.data_dir)
  adapter = adapters.get_adapter(args.dataset)
  num_examples = len(source) if args.num_examples is None else min(args.num_examples, len(source))
  ranks = np.array([100, 300, 1000, args.max_proposals])
  thresholds = (0.5, 0.7)
  best = []  # [R, G] per image
  counts, seconds = [], 0.0
  for index in range(num_examples):
    example = adapter(source[index], index)
    start = time.perf_counter()
    proposals = selective_search(example["image"], mode=args.mode, max_proposals=args.max_proposals,
                                 min_size=args.min_size)
    seconds += time.perf_counter() - start
    counts.append(len(proposals))
    gt = example["boxes"][~example["is_crowd"]]
    if len(gt) > args.max_objects:
      raise ValueError(f"record {index} has {len(gt)} objects; raise --max_objects")
    gt_padded = np.zeros((args.max_objects, 4), np.float32)
    gt_padded[:len(gt)] = gt
    padded = np.zeros((args.max_proposals, 4), np.float32)
    padded[:len(proposals)] = proposals
    valid = np.arange(args.max_proposals) < len(proposals)
    best.append(np.asarray(best_iou_at_ranks(gt_padded, padded, valid, ranks))[:, :len(gt)])
  best = np.concatenate(best, axis=1)

  print(f"{args.dataset} {args.split}: {num_examples} images, {best.shape[1]} objects; selective search "
        f"mode={args.mode}, min_size={args.min_size}, max_proposals={args.max_proposals}")
  for threshold in thresholds:
    print(f"recall@{threshold}: {np.mean(best[-1] >= threshold):.4f}")
  print(f"mean proposals per image: {np.mean(counts):.1f} (min {np.min(counts)}, max {np.max(counts)})")
  print(f"seconds per image: {seconds / num_examples:.3f} (one process)")
  print("recall with the best-ranked N proposals per image:")
  print("  N     " + "  ".join(f"IoU {t}" for t in thresholds))
  for r, rank in enumerate(ranks):
    print(f"  {rank:<5d} " + "  ".join(f"{np.mean(best[r] >= t):7.4f}" for t in thresholds))


if __name__ == "__main__":
  main()
