"""Shared fixtures of the face tests: dlib's model files, the dlib reference and real photos.

Tests that need the pretrained files skip when ``face_recognition_models`` is not installed; tests that compare
with dlib skip when the ``dlib`` (``dlib-bin``) wheel is not installed.
"""

import importlib.util
import os
import sys
import types

import numpy as np
import pytest


def _models_dir():
  spec = importlib.util.find_spec("face_recognition_models")
  if spec is None or not spec.submodule_search_locations:
    return None
  return os.path.join(list(spec.submodule_search_locations)[0], "models")


@pytest.fixture(scope="session")
def models_dir():
  directory = _models_dir()
  if directory is None:
    pytest.skip("face_recognition_models is not installed")
  return directory


@pytest.fixture(scope="session")
def dlib(models_dir):
  return pytest.importorskip("dlib")


@pytest.fixture(scope="session")
def face_recognition(models_dir, dlib):
  """The face_recognition package, with the ``pkg_resources`` lookup it still uses shimmed if absent."""
  if importlib.util.find_spec("face_recognition") is None:
    pytest.skip("face_recognition is not installed")
  if importlib.util.find_spec("pkg_resources") is None and "pkg_resources" not in sys.modules:
    shim = types.ModuleType("pkg_resources")
    shim.resource_filename = lambda package, name: os.path.join(models_dir, os.path.basename(name))
    sys.modules["pkg_resources"] = shim
  import face_recognition as module
  return module


@pytest.fixture(scope="session")
def astronaut():
  from skimage import data
  return data.astronaut()  # 512 x 512 RGB, one face (Eileen Collins).


@pytest.fixture(scope="session")
def lfw_photos():
  """Four LFW faces (scikit-image's 25x25 grey crops) upscaled to 160 px on a 240 px grey canvas, RGB."""
  from skimage import data, transform
  faces = data.lfw_subset()[:4]
  photos = []
  for face in faces:
    canvas = np.full((240, 240), 128, np.uint8)
    canvas[40:200, 40:200] = (transform.resize(face, (160, 160), order=1) * 255).astype(np.uint8)
    photos.append(np.repeat(canvas[..., None], 3, axis=-1))
  return np.stack(photos)


def dlib_box(rect):
  """dlib rectangle -> (left, top, right, bottom)."""
  return rect.left(), rect.top(), rect.right(), rect.bottom()


def iou(a, b):
  """IoU of inclusive pixel boxes (left, top, right, bottom)."""
  inter_w = min(a[2], b[2]) - max(a[0], b[0]) + 1
  inter_h = min(a[3], b[3]) - max(a[1], b[1]) + 1
  inter = max(0, inter_w) * max(0, inter_h)
  area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)
  return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="session")
def box_iou():
  return iou


# A minimal writer of dlib's serialization primitives, written from dlib's format description, so tests can
# build small files whose content they know (the readers under test only read).


def int_bytes(value: int) -> bytes:
  magnitude = abs(int(value))
  body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
  return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def float_bytes(value: float) -> bytes:
  mantissa, exponent = float(value).as_integer_ratio()
  shift = exponent.bit_length() - 1  # value = mantissa / 2**shift exactly (denominator is a power of two)
  return int_bytes(mantissa) + int_bytes(-shift)


def string_bytes(text: str) -> bytes:
  return int_bytes(len(text)) + text.encode()


def bool_bytes(flag: bool) -> bytes:
  return b"1" if flag else b"0"


def tensor_bytes(values: np.ndarray, shape=None) -> bytes:
  """Version-2 tensor: [num_samples, k, nr, nc] written as num_samples, nr, nc, k, then raw float32."""
  values = np.asarray(values, np.float32)
  n, k, nr, nc = shape if shape is not None else (values.size, 1, 1, 1)
  return (int_bytes(2) + int_bytes(n) + int_bytes(nr) + int_bytes(nc) + int_bytes(k)
          + values.astype("<f4").tobytes())


def alias_bytes(n, k, nr, nc) -> bytes:
  return int_bytes(1) + int_bytes(n) + int_bytes(k) + int_bytes(nr) + int_bytes(nc)


def empty_tensor() -> bytes:
  return tensor_bytes(np.zeros((0,)), (0, 0, 0, 0))


@pytest.fixture(scope="session")
def writer():
  return types.SimpleNamespace(int=int_bytes, float=float_bytes, string=string_bytes, bool=bool_bytes,
                               tensor=tensor_bytes, alias=alias_bytes, empty_tensor=empty_tensor)
