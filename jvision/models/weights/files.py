"""Read a flat ``name -> numpy array`` state dict from ``.npz``, ``.safetensors`` or ``.pth``/``.pt``.

``.safetensors`` is read by a small reader of the documented format (8-byte little-endian header length,
a JSON header of ``name -> {dtype, shape, data_offsets}``, then the raw bytes), so it needs no extra package.
``.pth`` needs PyTorch, which jvision does not depend on; it is imported only for that suffix.
``save_state_dict`` writes ``.npz``, which ``load_state_dict`` (and ``numpy.load``) read back.
"""

from __future__ import annotations

import json
import os
import struct

import ml_dtypes
import numpy as np

_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


def read_safetensors(path: str) -> dict[str, np.ndarray]:
  """Returns the tensors of a ``.safetensors`` file as numpy arrays."""
  with open(path, "rb") as f:
    raw = f.read()
  if len(raw) < 8:
    raise ValueError(f"{path} is not a safetensors file: shorter than its 8-byte header length")
  (header_size,) = struct.unpack("<Q", raw[:8])
  if 8 + header_size > len(raw):
    raise ValueError(f"{path} is not a safetensors file: header length {header_size} exceeds the file")
  header = json.loads(raw[8:8 + header_size])
  data = raw[8 + header_size:]
  out = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    if info["dtype"] not in _SAFETENSORS_DTYPES:
      raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
    begin, end = info["data_offsets"]
    dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
    out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"]).copy()
  return out


def _read_torch(path: str) -> dict[str, np.ndarray]:
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError(
        f"reading {path} needs PyTorch (pip install torch). Without it, convert the file once where torch "
        "is installed: np.savez('weights.npz', **{k: v.float().numpy() for k, v in "
        "torch.load(path).items()})") from e
  state = torch.load(path, map_location="cpu", weights_only=True)
  if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
    state = state["state_dict"]
  return {k: (v.float() if v.is_floating_point() else v).numpy() for k, v in state.items()}


def load_state_dict(path: str) -> dict[str, np.ndarray]:
  """Reads ``path`` by its suffix; strips DataParallel's ``module.`` prefix."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"state dict not found: {path}")
  if path.endswith(".npz"):
    with np.load(path) as f:
      state = {k: f[k] for k in f.files}
  elif path.endswith(".safetensors"):
    state = read_safetensors(path)
  elif path.endswith((".pth", ".pt")):
    state = _read_torch(path)
  else:
    raise ValueError(f"unsupported state dict file {path}: expected .npz, .safetensors, .pth or .pt")
  return {k.removeprefix("module."): v for k, v in state.items()}


def save_state_dict(path: str, state: dict[str, np.ndarray]) -> None:
  """Writes a flat ``name -> array`` state dict as ``.npz`` (uncompressed, names kept as they are)."""
  if not path.endswith(".npz"):
    raise ValueError(f"save_state_dict writes .npz files, got {path}")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "wb") as f:  # A file object, so numpy does not append a second ".npz".
    np.savez(f, **{name: np.asarray(value) for name, value in state.items()})
