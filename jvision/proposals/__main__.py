"""Precomputes the selective search proposals of a dataset split into its cache (``jvision.proposals.cache``).

  python -m jvision.proposals --dataset shapes/multi --split train --data_dir /tmp/tfds
  python -m jvision.proposals --dataset shapes/multi --split train --max_examples 2000   # a subset

Prints the cache path, the time taken and the mean number of proposals per image. ``--max_examples N`` caches
the first N *records* of the split, which are the records of the TFDS split ``train[:N]``: train on that split
so that every example has proposals (``load_proposals(..., max_examples=N)`` reads that cache).
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

from jvision.proposals import cache
from jvision.proposals.grouping import MODES


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dataset", required=True, help="TFDS name, e.g. shapes/multi or voc/2007")
  parser.add_argument("--split", required=True)
  parser.add_argument("--data_dir", default=None, help="TFDS data directory (default: $TFDS_DATA_DIR)")
  parser.add_argument("--mode", default="fast", choices=sorted(MODES))
  parser.add_argument("--max_proposals", type=int, default=2000)
  parser.add_argument("--min_size", type=int, default=20, help="Felzenszwalb's smallest region (pixels)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--max_examples", type=int, default=None, help="only the first N records of the split")
  parser.add_argument("--num_workers", type=int, default=2)
  parser.add_argument("--overwrite", action="store_true", help="recompute even if the cache exists")
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
  args = parse_args(argv)
  start = time.perf_counter()
  path = cache.compute_proposals(args.dataset, args.split, data_dir=args.data_dir, mode=args.mode,
                                 max_proposals=args.max_proposals, min_size=args.min_size, seed=args.seed,
                                 max_examples=args.max_examples, num_workers=args.num_workers,
                                 overwrite=args.overwrite)
  proposals = cache.read_proposals(path)
  print(f"{path}\n{len(proposals.counts)} images, {proposals.counts.mean():.0f} proposals per image, "
        f"{time.perf_counter() - start:.1f} s (this call; the cache was written in "
        f"{proposals.metadata['seconds']} s with {proposals.metadata['num_workers']} workers)")
  return path


if __name__ == "__main__":
  main()
