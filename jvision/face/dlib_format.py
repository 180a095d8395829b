"""Reader for dlib's serialized DNN files (``dlib::serialize(net)``), the format of dlib's pretrained CNNs.

dlib writes a network as nested objects, each in its own little binary grammar: integers are a length byte
(bit 7 = sign, low nibble = byte count) followed by little-endian bytes; floating-point numbers are an integer
mantissa and an integer exponent (``value = mantissa * 2**exponent``); strings are a length then bytes;
booleans are the characters ``'0'``/``'1'``; tensors are a version, four dimensions and the values (raw
little-endian float32 in version 2). A network is written from the loss layer down: each layer first writes
the whole sub-network below it, then its own details (tagged with a string such as ``"con_4"``), so the
details arrive in input-to-output order.

Tag and skip layers (``tag1``, ``skip1``, ``add_prev2``) write no identifier of their own: which tag a skip or
an add refers to lives in the C++ type, not in the file. The reader therefore returns the layers as a flat list
in input-to-output order, with those layers marked ``"tag_or_skip"``; the flax modules that own an
architecture (``jvision.models.dlib_resnet``, ``jvision.models.mmod_detector``) know the wiring and take the
weights in order, checking every shape.

Batch-norm layers stored in training form (``bn_con2``) are folded to the inference-time affine layer that
dlib itself builds when it loads them (``gamma / sqrt(running_var + eps)`` and the matching shift).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

# dlib marks non-finite floats with reserved exponents (see float_details in dlib/float_details.h).
_SPECIAL_EXPONENTS = {32000: np.inf, 32001: -np.inf, 32002: np.nan}


class DlibFormatError(ValueError):
  """The bytes are not a dlib network of a kind this reader understands."""


@dataclasses.dataclass
class Layer:
  """One computational layer: ``kind`` plus its attributes and float32 weights (numpy)."""

  kind: str  # con, relu, affine, max_pool, avg_pool, add_prev, fc, tag_or_skip
  attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
  weights: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class DlibNetwork:
  """A deserialized dlib network: loss settings, input layer settings and layers, input first."""

  loss: dict[str, Any]
  input: dict[str, Any]
  layers: list[Layer]

  def computational(self, kind: str) -> list[Layer]:
    """The layers of one ``kind`` in input-to-output order."""
    return [layer for layer in self.layers if layer.kind == kind]


class _Stream:
  """Cursor over the bytes with dlib's primitive decoders."""

  def __init__(self, data: bytes, name: str):
    self.data = data
    self.pos = 0
    self.name = name

  def fail(self, message: str):
    raise DlibFormatError(f"{self.name}: {message} (at byte {self.pos} of {len(self.data)})")

  def take(self, n: int) -> bytes:
    if self.pos + n > len(self.data):
      self.fail(f"truncated file: wanted {n} more bytes")
    chunk = self.data[self.pos:self.pos + n]
    self.pos += n
    return chunk

  def int(self) -> int:
    head = self.take(1)[0]
    size = head & 0x0F
    if size > 8 or head & 0x70:
      self.fail(f"bad integer header byte {head:#x}")
    value = int.from_bytes(self.take(size), "little")
    return -value if head & 0x80 else value

  def float(self) -> float:
    mantissa, exponent = self.int(), self.int()
    if exponent in _SPECIAL_EXPONENTS:
      return float(_SPECIAL_EXPONENTS[exponent])
    return float(mantissa) * 2.0**exponent

  def bool(self) -> bool:
    char = self.take(1)
    if char not in (b"0", b"1"):
      self.fail(f"bad boolean {char!r}")
    return char == b"1"

  def string(self) -> str:
    n = self.int()
    if n < 0 or n > 10_000:
      self.fail(f"implausible string length {n}")
    return self.take(n).decode("latin-1")

  def tensor(self) -> np.ndarray:
    """A resizable_tensor as float32 ``[num_samples, k, nr, nc]``."""
    version = self.int()
    if version not in (1, 2):
      self.fail(f"unknown tensor version {version}")
    n, nr, nc, k = self.int(), self.int(), self.int(), self.int()
    count = n * nr * nc * k
    if version == 2:
      values = np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32)
    else:
      values = np.array([self.float() for _ in range(count)], dtype=np.float32)
    return values.reshape(n, k, nr, nc)

  def alias_tensor(self) -> tuple[int, int, int, int]:
    """An alias_tensor's shape ``(num_samples, k, nr, nc)``; it owns no data."""
    version = self.int()
    if version != 1:
      self.fail(f"unknown alias_tensor version {version}")
    return self.int(), self.int(), self.int(), self.int()

  def box_overlap(self) -> dict[str, float]:
    return {"iou_thresh": self.float(), "percent_covered_thresh": self.float()}


def _split_params(stream: _Stream, params: np.ndarray, *shapes: tuple[int, ...]) -> list[np.ndarray]:
  """Cuts a flat parameter tensor into consecutive pieces of the given shapes."""
  flat = params.reshape(-1)
  sizes = [int(np.prod(s)) for s in shapes]
  if sum(sizes) != flat.size:
    stream.fail(f"parameter tensor of {flat.size} values does not hold pieces of shapes {shapes}")
  pieces, start = [], 0
  for shape, size in zip(shapes, sizes):
    pieces.append(flat[start:start + size].reshape(shape))
    start += size
  return pieces


def _read_con(s: _Stream, tag: str) -> Layer:
  params = s.tensor()
  num_filters, nr, nc = s.int(), s.int(), s.int()
  stride_y, stride_x, pad_y, pad_x = s.int(), s.int(), s.int(), s.int()
  filters, biases = s.alias_tensor(), s.alias_tensor()
  for _ in range(4):  # Learning-rate and weight-decay multipliers.
    s.float()
  use_bias = s.bool() if tag != "con_4" else True
  shapes = [filters] + ([biases] if use_bias else [])
  pieces = _split_params(s, params, *shapes)
  kernel = pieces[0]  # [out, in, kh, kw]
  bias = pieces[1].reshape(-1) if use_bias else np.zeros((num_filters,), np.float32)
  if kernel.shape[0] != num_filters or kernel.shape[2:] != (nr, nc):
    s.fail(f"con_ filters {kernel.shape} disagree with num_filters={num_filters}, size {nr}x{nc}")
  return Layer("con", {"features": num_filters, "kernel_size": (nr, nc), "strides": (stride_y, stride_x),
                       "padding": (pad_y, pad_x)},
               {"kernel": np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)), "bias": bias})


def _read_affine(s: _Stream, tag: str) -> Layer:
  params = s.tensor()
  gamma_shape, beta_shape = s.alias_tensor(), s.alias_tensor()
  mode = s.int()
  if tag == "affine_2":
    s.bool()  # Disabled flag: a disabled affine layer would be the identity.
  gamma, beta = _split_params(s, params, gamma_shape, beta_shape)
  return Layer("affine", {"mode": mode}, {"scale": gamma.reshape(-1), "shift": beta.reshape(-1)})


def _read_bn(s: _Stream, tag: str) -> Layer:
  params = s.tensor()
  gamma_shape, beta_shape = s.alias_tensor(), s.alias_tensor()
  s.tensor(), s.tensor()  # Batch means and inverse standard deviations of the last training step.
  running_mean, running_var = s.tensor().reshape(-1), s.tensor().reshape(-1)
  s.int(), s.int()  # Number of updates, running-stats window.
  for _ in range(4):
    s.float()
  eps = s.float()
  gamma, beta = _split_params(s, params, gamma_shape, beta_shape)
  scale = gamma.reshape(-1) / np.sqrt(running_var + np.float32(eps))
  shift = beta.reshape(-1) - scale * running_mean
  return Layer("affine", {"mode": 0 if tag.startswith("bn_con") else 1, "from": tag},  # dlib: 0 = CONV_MODE.
               {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)})


def _read_pool(s: _Stream, tag: str) -> Layer:
  nr, nc, stride_y, stride_x, pad_y, pad_x = (s.int() for _ in range(6))
  return Layer(tag[:-2], {"window": (nr, nc), "strides": (stride_y, stride_x), "padding": (pad_y, pad_x)})


def _read_fc(s: _Stream, tag: str) -> Layer:
  num_outputs, num_inputs = s.int(), s.int()
  params = s.tensor()
  weights_shape, biases_shape = s.alias_tensor(), s.alias_tensor()
  bias_mode = s.int()  # 0: has bias, 1: no bias.
  for _ in range(4):
    s.float()
  shapes = [weights_shape] + ([biases_shape] if bias_mode == 0 else [])
  pieces = _split_params(s, params, *shapes)
  kernel = pieces[0].reshape(num_inputs, num_outputs)
  weights = {"kernel": kernel}
  if bias_mode == 0:
    weights["bias"] = pieces[1].reshape(-1)
  return Layer("fc", {"features": num_outputs, "use_bias": bias_mode == 0}, weights)


_DETAIL_READERS = {
    "con_4": _read_con, "con_5": _read_con, "con_6": _read_con,
    "affine_": _read_affine, "affine_2": _read_affine,
    "bn_con2": _read_bn, "bn_fc2": _read_bn,
    "max_pool_2": _read_pool, "avg_pool_2": _read_pool,
    "fc_2": _read_fc,
    "relu_": lambda s, tag: Layer("relu"),
    "add_prev_": lambda s, tag: Layer("add_prev"),
}


def _read_details(s: _Stream) -> Layer:
  tag = s.string()
  if tag not in _DETAIL_READERS:
    s.fail(f"unsupported dlib layer {tag!r}; supported: {', '.join(sorted(_DETAIL_READERS))}")
  return _DETAIL_READERS[tag](s, tag)


def _read_input(s: _Stream) -> dict[str, Any]:
  tag = s.string()
  mean = (s.float(), s.float(), s.float())
  if tag == "input_rgb_image_sized":
    return {"kind": tag, "mean_rgb": mean, "size": (s.int(), s.int())}
  if tag == "input_rgb_image_pyramid":
    return {"kind": tag, "mean_rgb": mean}
  if tag == "input_rgb_image_pyramid2":  # Newer files also store the pyramid paddings.
    return {"kind": "input_rgb_image_pyramid", "mean_rgb": mean, "padding": s.int(), "outer_padding": s.int()}
  s.fail(f"unsupported dlib input layer {tag!r}")


def _read_stack(s: _Stream, layers: list[Layer]) -> dict[str, Any]:
  """Reads one add_layer/tag/skip level and everything below it; appends layers input-first."""
  version = s.int()
  if version == 1:  # add_tag_layer / add_skip_layer: just the sub-network.
    input_layer = _read_stack(s, layers)
    layers.append(Layer("tag_or_skip"))
    return input_layer
  if version == 2:  # add_layer over another layer.
    input_layer = _read_stack(s, layers)
    layers.append(_read_details(s))
    for _ in range(3):
      s.bool()
    for _ in range(3):  # x_grad, cached_output, params_grad.
      s.tensor()
    return input_layer
  if version == 3:  # add_layer directly over the input layer.
    input_layer = _read_input(s)
    layers.append(_read_details(s))
    for _ in range(3):
      s.bool()
    for _ in range(3):  # x_grad, cached_output, grad_final.
      s.tensor()
    s.int()  # Sample expansion factor.
    return input_layer
  s.fail(f"unknown layer version {version}")


def _read_loss(s: _Stream) -> dict[str, Any]:
  tag = s.string()
  if tag == "loss_metric_2" or tag == "loss_metric_":
    return {"kind": "loss_metric", "margin": s.float(), "distance_threshold": s.float()}
  if tag == "loss_mmod_":
    version = s.int()
    if version != 1:
      s.fail(f"unsupported mmod_options version {version}")
    width, height = s.int(), s.int()
    options = {"kind": "loss_mmod", "detector_windows": [(width, height)],
               "loss_per_false_alarm": s.float(), "loss_per_missed_target": s.float(),
               "truth_match_iou_threshold": s.float()}
    options["overlaps_nms"] = s.box_overlap()
    options["overlaps_ignore"] = s.box_overlap()
    return options
  s.fail(f"unsupported dlib loss layer {tag!r}")


def parse_network(data: bytes, name: str = "<bytes>") -> DlibNetwork:
  """Parses the bytes of a dlib network file; every byte must be consumed."""
  s = _Stream(data, name)
  version = s.int()
  if version != 1:
    s.fail(f"not a dlib network file (loss layer version {version}, expected 1)")
  loss = _read_loss(s)
  layers: list[Layer] = []
  input_layer = _read_stack(s, layers)
  if s.pos != len(data):
    s.fail("trailing bytes after the network")
  return DlibNetwork(loss, input_layer, layers)


def flax_params(network: DlibNetwork) -> dict[str, dict[str, np.ndarray]]:
  """The weights as a flax ``params`` tree: ``con_{i}``, ``affine_{i}``, ``fc_{i}`` numbered per kind, input first.

  The flax modules of dlib's networks name their layers the same way, so ``{"params": flax_params(net)}`` is
  their variables; ``con`` kernels are already HWIO (dlib stores ``[out, in, kh, kw]``), ``fc`` kernels
  ``[in, out]``.
  """
  params, counts = {}, {}
  for layer in network.layers:
    if layer.weights:
      i = counts.get(layer.kind, 0)
      counts[layer.kind] = i + 1
      params[f"{layer.kind}_{i}"] = dict(layer.weights)
  return params


def load_network(path: str | os.PathLike) -> DlibNetwork:
  """Reads a dlib network file (``mmod_human_face_detector.dat``, ``dlib_face_recognition_resnet_model_v1.dat``)."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"dlib network file not found: {path!r}")
  with open(path, "rb") as f:
    return parse_network(f.read(), os.path.basename(path))
