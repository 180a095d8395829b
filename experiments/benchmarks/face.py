r"""Face benchmark on this CPU: encodings per second and detection time per 640x480 image, jvision vs dlib.

    python experiments/benchmarks/face.py [--faces 32] [--images 4] [--repeats 3] [--upsample 0] [--agreement]

Encodings: ``--faces`` aligned 150x150 chips (the astronaut's face, jittered) through dlib's ResNet, in one
batched jit-compiled call (jvision) and through ``dlib.face_recognition_model_v1.compute_face_descriptor``
(dlib, its batch API). Detection: the CNN (MMOD) detector on ``--images`` 640x480 photos (the astronaut pasted
on a scenic background), jvision batching same-size images in one call, dlib one call per batch as
``cnn_face_detection_model_v1(images, upsample)``. Compilation is excluded (one warm-up call); each figure is
the median of ``--repeats`` timings. dlib (the ``dlib-bin`` wheel) is optional: without it only jvision's
figures are printed. ``--agreement`` also prints how far jvision's outputs are from dlib's on real photos (the
astronaut and four upscaled LFW faces): smallest box IoU, largest landmark difference, largest descriptor
distance.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np


def _median_seconds(fn, repeats: int) -> float:
  fn()  # Warm-up: compilation and caches.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _inputs(num_faces: int, num_images: int):
  from skimage import data, transform
  import jvision.face as jf
  astronaut = data.astronaut()
  landmarks = jf._raw_landmarks(astronaut, [(60, 280, 170, 170)], "small")[0]
  from jvision.face.chips import extract_chips
  rng = np.random.default_rng(0)
  jittered = landmarks[None] + rng.normal(0, 1.0, (num_faces, 5, 2))
  chips = extract_chips(astronaut, jittered)
  background = (transform.resize(data.coffee(), (480, 640)) * 255).astype(np.uint8)
  photo = background.copy()
  photo[40:440, 120:520] = (transform.resize(astronaut, (400, 400)) * 255).astype(np.uint8)  # Face ~85 px.
  photos = np.stack([np.roll(photo, 8 * i, axis=1) for i in range(num_images)])
  return chips, photos


def agreement(dlib) -> None:
  """Prints jvision-vs-dlib differences on the astronaut and four upscaled LFW faces."""
  from skimage import data, transform
  import jvision.face as jf
  photos = [data.astronaut()]
  for face in data.lfw_subset()[:4]:
    canvas = np.full((240, 240), 128, np.uint8)
    canvas[40:200, 40:200] = (transform.resize(face, (160, 160), order=1) * 255).astype(np.uint8)
    photos.append(np.repeat(canvas[..., None], 3, axis=-1))
  detector = dlib.cnn_face_detection_model_v1(jf.model_path("detector"))
  predictors = {m: dlib.shape_predictor(jf.model_path(k)) for m, k in (("small", "landmarks_5"),
                                                                          ("large", "landmarks_68"))}
  encoder = dlib.face_recognition_model_v1(jf.model_path("encoder"))
  ious, landmark_diff, distances = [], 0.0, []
  for photo in photos:
    ours = jf.face_locations(photo, 0)
    theirs = [(d.rect.top(), d.rect.right(), d.rect.bottom(), d.rect.left()) for d in detector(photo, 0)]
    if len(ours) != len(theirs):
      print(f"face count differs: jvision {len(ours)}, dlib {len(theirs)}")
    for (t, r, b, l), (t2, r2, b2, l2) in zip(ours, theirs):
      inter = max(0, min(r, r2) - max(l, l2) + 1) * max(0, min(b, b2) - max(t, t2) + 1)
      union = (r - l + 1) * (b - t + 1) + (r2 - l2 + 1) * (b2 - t2 + 1) - inter
      ious.append(inter / union)
    for model, predictor in predictors.items():
      shapes = [predictor(photo, dlib.rectangle(l, t, r, b)) for t, r, b, l in theirs]
      ours_points = jf._raw_landmarks(photo, theirs, model)
      for shape, points in zip(shapes, ours_points):
        landmark_diff = max(landmark_diff, float(np.abs(points - [(p.x, p.y) for p in shape.parts()]).max()))
      for shape, mine in zip(shapes, jf.face_encodings(photo, theirs, model=model)):
        distances.append(float(np.linalg.norm(mine - np.array(encoder.compute_face_descriptor(photo, shape)))))
  print(f"agreement on {len(photos)} photos, {len(ious)} faces: min box IoU {min(ious):.4f}; max landmark "
        f"difference {landmark_diff:.0f} px (5 and 68 points); max descriptor distance {max(distances):.2e}")


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--faces", type=int, default=32)
  parser.add_argument("--images", type=int, default=4)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--upsample", type=int, default=0)
  parser.add_argument("--agreement", action="store_true", help="also print jvision-vs-dlib differences")
  args = parser.parse_args(argv)

  import jvision.face as jf
  chips, photos = _inputs(args.faces, args.images)
  encoder, detector = jf._encoder(), jf._cnn_detector()
  results = {
      "encode": args.faces / _median_seconds(lambda: encoder(chips), args.repeats),
      "detect": _median_seconds(lambda: detector(photos, upsample=args.upsample), args.repeats) / args.images,
  }
  found = [len(d) for d in detector(photos, upsample=args.upsample)]
  print(f"jvision: {results['encode']:.1f} encodings/s (batch {args.faces}); "
        f"{1000 * results['detect']:.0f} ms per 640x480 image (batch {args.images}, upsample {args.upsample}, "
        f"faces found {found})")
  try:
    import dlib
  except ImportError:
    print("dlib is not installed (pip install dlib-bin): no reference timings")
    return
  reference_encoder = dlib.face_recognition_model_v1(jf.model_path("encoder"))
  reference_detector = dlib.cnn_face_detection_model_v1(jf.model_path("detector"))
  chip_list, photo_list = list(chips), list(photos)
  dlib_encode = args.faces / _median_seconds(
      lambda: reference_encoder.compute_face_descriptor(chip_list), args.repeats)
  dlib_detect = _median_seconds(
      lambda: reference_detector(photo_list, args.upsample, batch_size=args.images), args.repeats) / args.images
  print(f"dlib:    {dlib_encode:.1f} encodings/s; {1000 * dlib_detect:.0f} ms per 640x480 image")
  print(f"ratio jvision/dlib: encodings/s x{results['encode'] / dlib_encode:.2f}; "
        f"detection speed x{dlib_detect / results['detect']:.2f} (>1: jvision faster)")
  print(f"cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
  if args.agreement:
    agreement(dlib)


if __name__ == "__main__":
  sys.exit(main())
