"""Command line: who is in these pictures? face_recognition's ``face_recognition`` CLI on jvision.face.

    python -m jvision.face.recognize KNOWN_DIR UNKNOWN_DIR_OR_FILE [--tolerance 0.6] [--show-distance true]

Each image in KNOWN_DIR is one known person, named after its file (``obama.jpg`` -> ``obama``). For every face
of every unknown image (.jpg/.jpeg/.png) it prints ``file,name`` for each known person within ``tolerance``
(``file,name,distance`` with ``--show-distance``), ``file,unknown_person`` when none is, and
``file,no_persons_found`` when the image has no face: the same lines as face_recognition's CLI. Unknown images
larger than 1600 px are shrunk first, as there. Faces are found with dlib's CNN detector (face_recognition's
CLI uses its HOG detector), and all faces of an image are encoded in one batched call.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Optional, Sequence

import numpy as np

import jvision.face as jf

IMAGE_PATTERN = re.compile(r".*\.(jpg|jpeg|png)", flags=re.I)


def image_files_in_folder(folder: str) -> list[str]:
  """The .jpg/.jpeg/.png files of a folder (sorted, for a stable output order)."""
  return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if IMAGE_PATTERN.match(f)]


def scan_known_people(folder: str) -> tuple[list[str], list[np.ndarray]]:
  names, encodings = [], []
  for file in image_files_in_folder(folder):
    basename = os.path.splitext(os.path.basename(file))[0]
    found = jf.face_encodings(jf.load_image_file(file))
    if len(found) > 1:
      print(f"WARNING: More than one face found in {file}. Only considering the first face.")
    if not found:
      print(f"WARNING: No faces found in {file}. Ignoring file.")
    else:
      names.append(basename)
      encodings.append(found[0])
  return names, encodings


def print_result(filename: str, name: str, distance, show_distance: bool = False) -> None:
  if show_distance:
    print(f"{filename},{name},{distance}")
  else:
    print(f"{filename},{name}")


def test_image(image_to_check: str, known_names, known_encodings, tolerance: float = 0.6,
               show_distance: bool = False) -> None:
  image = jf.downscale_large_image(jf.load_image_file(image_to_check))
  unknown_encodings = jf.face_encodings(image)
  for encoding in unknown_encodings:
    distances = jf.face_distance(known_encodings, encoding)
    matches = list(distances <= tolerance)
    if True in matches:
      for is_match, name, distance in zip(matches, known_names, distances):
        if is_match:
          print_result(image_to_check, name, distance, show_distance)
    else:
      print_result(image_to_check, "unknown_person", None, show_distance)
  if not unknown_encodings:
    print_result(image_to_check, "no_persons_found", None, show_distance)


def _flag(text: str) -> bool:
  if text.lower() in ("1", "true", "yes", "y", "t"):
    return True
  if text.lower() in ("0", "false", "no", "n", "f"):
    return False
  raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jvision.face.recognize", description=__doc__.split("\n")[0])
  parser.add_argument("known_people_folder")
  parser.add_argument("image_to_check", help="an image file or a folder of images")
  parser.add_argument("--tolerance", type=float, default=0.6,
                      help="largest face distance to count as a match; lower is stricter (default 0.6)")
  parser.add_argument("--show-distance", type=_flag, nargs="?", const=True, default=False,
                      help="print the distance of each match too")
  parser.add_argument("--cpus", type=int, default=1, help="accepted for compatibility; batching replaces it")
  args = parser.parse_args(argv)
  for path, what in [(args.known_people_folder, "known people folder")]:
    if not os.path.isdir(path):
      parser.error(f"{what} not found: {path!r}")
  if not os.path.exists(args.image_to_check):
    parser.error(f"image or folder not found: {args.image_to_check!r}")
  names, encodings = scan_known_people(args.known_people_folder)
  targets = (image_files_in_folder(args.image_to_check) if os.path.isdir(args.image_to_check)
             else [args.image_to_check])
  for file in targets:
    test_image(file, names, encodings, args.tolerance, args.show_distance)
  return 0


if __name__ == "__main__":
  sys.exit(main())
