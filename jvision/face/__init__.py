"""Face detection and recognition in three lines: face_recognition's API on JAX, with dlib's real models.

    import jvision.face as fr
    image = fr.load_image_file("obama.jpg")
    encodings = fr.face_encodings(image)          # one 128-D descriptor per face

The names, arguments and return types mirror the ``face_recognition`` package (Geitgey, built on dlib):
boxes are ``(top, right, bottom, left)`` tuples, landmarks are dicts of ``(x, y)`` lists, encodings are
float64 arrays ``[128]``, and two faces are the same person when their distance is at most 0.6. The pretrained
weights are dlib's, read from the ``face_recognition_models`` package (``pip install face_recognition_models``;
or a directory holding the four ``.dat`` files named by ``$JVISION_FACE_MODELS``); no dlib is needed and
nothing is downloaded at run time. The networks run in JAX: all faces of an image go through the encoder in
one jit-compiled call, and ``batch_face_locations`` scores many same-size images in one call.

Models:
  - ``model='cnn'`` (detection, the default here): dlib's MMOD CNN detector (``jvision.face.mmod``).
  - ``model='hog'``: face_recognition's HOG detector is not reproduced; ``'hog'`` selects the small face /
    non-face CNN trained in jvision on scikit-image's LFW patches (``experiments/face_detector_lfw.py``) and
    slid over an image pyramid (``jvision.face.lfw_detector``). It needs that experiment's workdir in
    ``$JVISION_FACE_HOG_WORKDIR``; it is a demonstration of the training path, far weaker than 'cnn'.
  - landmarks ``'large'`` (68 points) / ``'small'`` (5 points): dlib's shape predictors.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Optional, Sequence

import numpy as np

MODEL_FILES = {
    "detector": "mmod_human_face_detector.dat",
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",
    "landmarks_68": "shape_predictor_68_face_landmarks.dat",
    "landmarks_5": "shape_predictor_5_face_landmarks.dat",
}
LARGE_IMAGE_SIDE = 1600  # face_recognition's CLI shrinks bigger images before encoding.

__all__ = [
    "load_image_file", "face_locations", "batch_face_locations", "face_landmarks", "face_encodings",
    "compare_faces", "face_distance", "model_path", "downscale_large_image",
]


def model_path(kind: str) -> str:
  """Path of one of dlib's model files (``kind`` in ``MODEL_FILES``).

  Looks in ``$JVISION_FACE_MODELS`` if set, else in the installed ``face_recognition_models`` package (found
  without importing it, which would need the retired ``pkg_resources``).
  """
  if kind not in MODEL_FILES:
    raise KeyError(f"unknown face model {kind!r}; known: {', '.join(MODEL_FILES)}")
  override = os.environ.get("JVISION_FACE_MODELS")
  if override:
    directory = override
  else:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
      raise ImportError("jvision.face needs dlib's pretrained models from the 'face_recognition_models' "
                        "package: pip install face_recognition_models (or set $JVISION_FACE_MODELS to a "
                        "directory holding the .dat files)")
    directory = os.path.join(list(spec.submodule_search_locations)[0], "models")
  path = os.path.join(directory, MODEL_FILES[kind])
  if not os.path.isfile(path):
    raise FileNotFoundError(f"face model file {MODEL_FILES[kind]!r} not found in {directory!r}")
  return path


@functools.lru_cache(maxsize=None)
def _cnn_detector():
  from jvision.face.mmod import MMODFaceDetector
  return MMODFaceDetector(model_path("detector"))


@functools.lru_cache(maxsize=None)
def _lfw_detector():
  from jvision.face.lfw_detector import load_lfw_detector
  return load_lfw_detector()


@functools.lru_cache(maxsize=None)
def _encoder():
  from jvision.face.encoder import FaceEncoder
  return FaceEncoder(model_path("encoder"))


def _shape_predictor(model: str):
  from jvision.face.shape_predictor import load_shape_predictor
  if model == "large":
    return load_shape_predictor(model_path("landmarks_68"))
  if model == "small":
    return load_shape_predictor(model_path("landmarks_5"))
  raise ValueError(f"Invalid landmarks model type {model!r}. Supported models are ['small', 'large'].")


def _as_rgb(image) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"expected an RGB image [H, W, 3] or a grey image [H, W], got shape {image.shape}")
  if image.dtype != np.uint8:
    raise ValueError(f"expected a uint8 image (as load_image_file returns), got dtype {image.dtype}")
  return image


def load_image_file(file, mode: str = "RGB") -> np.ndarray:
  """Loads an image file (.jpg, .png, ...) into a numpy array; ``mode``: 'RGB' (default) or 'L' (grey)."""
  import PIL.Image
  if isinstance(file, (str, os.PathLike)) and not os.path.isfile(file):
    raise FileNotFoundError(f"image file not found: {os.fspath(file)!r}")
  image = PIL.Image.open(file)
  if mode:
    image = image.convert(mode)
  return np.array(image)


def downscale_large_image(image: np.ndarray, max_side: int = LARGE_IMAGE_SIDE) -> np.ndarray:
  """Shrinks an image whose larger side exceeds ``max_side`` to fit (PIL thumbnail, Lanczos), as
  face_recognition's CLI does before encoding; smaller images are returned unchanged."""
  import PIL.Image
  if max(image.shape[:2]) <= max_side:
    return image
  pil = PIL.Image.fromarray(image)
  pil.thumbnail((max_side, max_side), PIL.Image.LANCZOS)
  return np.array(pil)


def _trim_to_image(box, shape) -> tuple[int, int, int, int]:
  """dlib rectangle ``(left, top, right, bottom)`` -> ``(top, right, bottom, left)`` clipped like face_recognition."""
  left, top, right, bottom = box
  return max(top, 0), min(right, shape[1]), min(bottom, shape[0]), max(left, 0)


def _detect(images: np.ndarray, number_of_times_to_upsample: int, model: str) -> list[list[tuple]]:
  if model == "cnn":
    detections = _cnn_detector()(images, upsample=number_of_times_to_upsample)
    return [[(d.left, d.top, d.right, d.bottom) for d in dets] for dets in detections]
  if model == "hog":
    return _lfw_detector()(images, upsample=number_of_times_to_upsample)
  raise ValueError(f"unknown face detection model {model!r}; known: 'cnn', 'hog'")


def face_locations(img, number_of_times_to_upsample: int = 1, model: str = "cnn") -> list[tuple[int, int, int, int]]:
  """Bounding boxes ``(top, right, bottom, left)`` of the faces in an image.

  Args:
    img: RGB uint8 image ``[H, W, 3]`` (or grey ``[H, W]``).
    number_of_times_to_upsample: how many times to double the image first (finds smaller faces, slower).
    model: ``'cnn'`` (dlib's MMOD CNN) or ``'hog'`` (jvision's LFW-trained detector, see the module doc).
  """
  image = _as_rgb(img)
  return [_trim_to_image(box, image.shape) for box in _detect(image[None], number_of_times_to_upsample, model)[0]]


def batch_face_locations(images: Sequence[np.ndarray], number_of_times_to_upsample: int = 1,
                         batch_size: int = 128) -> list[list[tuple[int, int, int, int]]]:
  """``face_locations`` with the CNN detector for a list of same-size images, ``batch_size`` per call."""
  images = [_as_rgb(im) for im in images]
  if not images:
    return []
  if len({im.shape for im in images}) != 1:
    raise ValueError(f"batch_face_locations needs images of one size, got {sorted({im.shape for im in images})}")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  out = []
  for start in range(0, len(images), batch_size):
    chunk = np.stack(images[start:start + batch_size])
    for boxes in _detect(chunk, number_of_times_to_upsample, "cnn"):
      out.append([_trim_to_image(box, images[0].shape) for box in boxes])
  return out


def _raw_landmarks(image: np.ndarray, locations, model: str) -> np.ndarray:
  """Rounded landmark positions ``[F, L, 2]`` (x, y) of the faces at ``locations`` (css tuples)."""
  from jvision.face.shape_predictor import predict_landmarks
  predictor = _shape_predictor(model)
  if locations is None:
    locations = face_locations(image)
  boxes = np.array([(left, top, right, bottom) for top, right, bottom, left in locations], np.float32)
  points = predict_landmarks(predictor, image, boxes.reshape(-1, 4))
  return np.floor(points + 0.5).astype(np.int64)


def face_landmarks(face_image, face_locations: Optional[Sequence[tuple]] = None, model: str = "large") -> list[dict]:
  """Facial features (chin, eyes, nose, lips, ...) as lists of ``(x, y)`` points, one dict per face.

  ``model='large'``: 68 points (chin, left/right_eyebrow, nose_bridge, nose_tip, left/right_eye,
  top/bottom_lip); ``'small'``: 5 points (nose_tip, left_eye, right_eye).
  """
  if model not in ("large", "small"):
    raise ValueError(f"Invalid landmarks model type {model!r}. Supported models are ['small', 'large'].")
  image = _as_rgb(face_image)
  result = []
  for landmarks in _raw_landmarks(image, face_locations, model):
    p = [(int(x), int(y)) for x, y in landmarks]
    if model == "large":
      result.append({
          "chin": p[0:17], "left_eyebrow": p[17:22], "right_eyebrow": p[22:27], "nose_bridge": p[27:31],
          "nose_tip": p[31:36], "left_eye": p[36:42], "right_eye": p[42:48],
          "top_lip": p[48:55] + [p[64], p[63], p[62], p[61], p[60]],
          "bottom_lip": p[54:60] + [p[48], p[60], p[67], p[66], p[65], p[64]],
      })
    else:
      result.append({"nose_tip": [p[4]], "left_eye": p[2:4], "right_eye": p[0:2]})
  return result


def face_encodings(face_image, known_face_locations: Optional[Sequence[tuple]] = None, num_jitters: int = 1,
                   model: str = "small") -> list[np.ndarray]:
  """128-D descriptors (float64 ``[128]``) of the faces in an image, all faces in one batched call.

  Args:
    face_image: RGB uint8 image.
    known_face_locations: ``(top, right, bottom, left)`` boxes; detected with ``face_locations`` if None.
    num_jitters: >1 averages over randomly jittered chips (slower, slightly more robust).
    model: landmarks used to align the chip, ``'small'`` (5 points, default) or ``'large'`` (68 points).
  """
  from jvision.face.chips import extract_chips
  if model not in ("large", "small"):
    raise ValueError(f"Invalid landmarks model type {model!r}. Supported models are ['small', 'large'].")
  image = _as_rgb(face_image)
  landmarks = _raw_landmarks(image, known_face_locations, model)
  chips = extract_chips(image, landmarks, size=150, padding=0.25)
  return list(_encoder()(chips, num_jitters=num_jitters))


def face_distance(face_encodings, face_to_compare) -> np.ndarray:
  """Euclidean distances ``[N]`` between known encodings ``[N, 128]`` and one encoding ``[128]``."""
  if len(face_encodings) == 0:
    return np.empty((0,))
  known = np.asarray(face_encodings, np.float64)
  candidate = np.asarray(face_to_compare, np.float64)
  if known.ndim != 2 or candidate.shape != known.shape[1:]:
    raise ValueError(f"expected encodings [N, D] and one encoding [D], got {known.shape} and {candidate.shape}")
  return np.linalg.norm(known - candidate, axis=1)


def compare_faces(known_face_encodings, face_encoding_to_check, tolerance: float = 0.6) -> list[bool]:
  """Whether each known encoding is the same person as the candidate (distance <= ``tolerance``)."""
  return list(face_distance(known_face_encodings, face_encoding_to_check) <= tolerance)
