"""Command line: where are the faces? face_recognition's ``face_detection`` CLI on jvision.face.

    python -m jvision.face.detect DIR_OR_FILE [--model cnn|hog] [--upsample 0]

Prints ``file,top,right,bottom,left`` for every face of every .jpg/.jpeg/.png image, as face_recognition's
CLI does. ``--model cnn`` (the default here) is dlib's CNN detector; ``--model hog`` is jvision's small
LFW-trained detector (see ``jvision.face``). Images of the same size are detected in batches of ``--batch-size``
in one jit-compiled call.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from typing import Optional, Sequence

import jvision.face as jf
from jvision.face.recognize import image_files_in_folder


def print_result(filename: str, location) -> None:
  top, right, bottom, left = location
  print(f"{filename},{top},{right},{bottom},{left}")


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jvision.face.detect", description=__doc__.split("\n")[0])
  parser.add_argument("image_to_check", help="an image file or a folder of images")
  parser.add_argument("--model", default="cnn", choices=("cnn", "hog"), help="face detector (default cnn)")
  parser.add_argument("--upsample", type=int, default=0, help="times to double the image first (default 0)")
  parser.add_argument("--batch-size", type=int, default=16, help="same-size images per call (cnn)")
  parser.add_argument("--cpus", type=int, default=1, help="accepted for compatibility; batching replaces it")
  args = parser.parse_args(argv)
  if not os.path.exists(args.image_to_check):
    parser.error(f"image or folder not found: {args.image_to_check!r}")
  files = (image_files_in_folder(args.image_to_check) if os.path.isdir(args.image_to_check)
           else [args.image_to_check])
  images = {f: jf.load_image_file(f) for f in files}
  locations = {}
  if args.model == "cnn":
    by_size = defaultdict(list)
    for f in files:
      by_size[images[f].shape].append(f)
    for group in by_size.values():
      found = jf.batch_face_locations([images[f] for f in group], args.upsample, batch_size=args.batch_size)
      locations.update(zip(group, found))
  else:
    locations = {f: jf.face_locations(images[f], args.upsample, model=args.model) for f in files}
  for f in files:
    for location in locations[f]:
      print_result(f, location)
  return 0


if __name__ == "__main__":
  sys.exit(main())
