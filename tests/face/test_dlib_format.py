"""dlib's DNN file reader: primitives and a hand-built network (independent writer), bn folding, the real files."""

import numpy as np
import pytest

from jvision.face import dlib_format


def _layer_tail(w, input_level=False):
  tail = w.bool(True) + w.bool(True) + w.bool(False) + w.empty_tensor() * 3
  return tail + (w.int(1) if input_level else b"")


def _con(w, kernel_oihw, bias, stride, padding):
  out, cin, kh, kw = kernel_oihw.shape
  params = np.concatenate([kernel_oihw.reshape(-1), bias])
  return (w.string("con_4") + w.tensor(params) + w.int(out) + w.int(kh) + w.int(kw) + w.int(stride)
          + w.int(stride) + w.int(padding) + w.int(padding) + w.alias(out, cin, kh, kw) + w.alias(1, out, 1, 1)
          + w.float(1) + w.float(1) + w.float(1) + w.float(0))


def _fc(w, kernel, bias):
  num_in, num_out = kernel.shape
  params = np.concatenate([kernel.reshape(-1), bias])
  return (w.string("fc_2") + w.int(num_out) + w.int(num_in) + w.tensor(params) + w.alias(num_in, num_out, 1, 1)
          + w.alias(1, num_out, 1, 1) + w.int(0) + w.float(1) + w.float(1) + w.float(1) + w.float(0))


def _input(w):
  return w.string("input_rgb_image_sized") + w.float(122.5) + w.float(117.0) + w.float(104.25) + w.int(8) + w.int(8)


@pytest.fixture
def tiny_network(writer):
  """loss_metric <- fc (6 -> 2) <- relu <- tag <- con 3x3/2 (3 -> 6 filters) <- input 8x8."""
  w = writer
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(6, 3, 3, 3)).astype(np.float32)
  bias = rng.normal(size=6).astype(np.float32)
  fc_kernel = rng.normal(size=(6, 2)).astype(np.float32)
  fc_bias = rng.normal(size=2).astype(np.float32)
  con_level = w.int(3) + _input(w) + _con(w, kernel, bias, 2, 1) + _layer_tail(w, input_level=True)
  tag_level = w.int(1) + con_level
  relu_level = w.int(2) + tag_level + w.string("relu_") + _layer_tail(w)
  fc_level = w.int(2) + relu_level + _fc(w, fc_kernel, fc_bias) + _layer_tail(w)
  data = w.int(1) + w.string("loss_metric_2") + w.float(0.04) + w.float(0.6) + fc_level
  return data, kernel, bias, fc_kernel, fc_bias


def test_primitives_decode_hand_encoded_values():
  s = dlib_format._Stream(b"\x01\x00" + b"\x81\x88" + b"\x02\x2c\x01" + b"\x03\x0a\xd7\xa3\x81\x1c" + b"10", "t")
  assert (s.int(), s.int(), s.int()) == (0, -136, 300)
  assert s.float() == pytest.approx(0.04, rel=1e-7)  # 0xa3d70a * 2**-28, as in the ResNet file's header.
  assert (s.bool(), s.bool()) == (True, False)


def test_hand_built_network_round_trips(tiny_network):
  data, kernel, bias, fc_kernel, fc_bias = tiny_network
  network = dlib_format.parse_network(data, "tiny")
  assert network.loss["kind"] == "loss_metric"
  assert (network.loss["margin"], network.loss["distance_threshold"]) == pytest.approx((0.04, 0.6))
  assert network.input["kind"] == "input_rgb_image_sized" and network.input["size"] == (8, 8)
  assert network.input["mean_rgb"] == (122.5, 117.0, 104.25)
  assert [layer.kind for layer in network.layers] == ["con", "tag_or_skip", "relu", "fc"]
  con = network.layers[0]
  assert con.attrs == {"features": 6, "kernel_size": (3, 3), "strides": (2, 2), "padding": (1, 1)}
  np.testing.assert_array_equal(con.weights["kernel"], kernel.transpose(2, 3, 1, 0))  # OIHW -> HWIO
  np.testing.assert_array_equal(con.weights["bias"], bias)
  params = dlib_format.flax_params(network)
  assert set(params) == {"con_0", "fc_0"}
  np.testing.assert_array_equal(params["fc_0"]["kernel"], fc_kernel)
  np.testing.assert_array_equal(params["fc_0"]["bias"], fc_bias)


def test_batch_norm_is_folded_into_affine(writer):
  w = writer
  gamma, beta = np.array([2.0, 0.5], np.float32), np.array([1.0, -1.0], np.float32)
  mean, var, eps = np.array([0.25, 3.0], np.float32), np.array([4.0, 0.25], np.float32), 1e-5
  bn = (w.string("bn_con2") + w.tensor(np.concatenate([gamma, beta])) + w.alias(1, 2, 1, 1) + w.alias(1, 2, 1, 1)
        + w.empty_tensor() + w.empty_tensor() + w.tensor(mean) + w.tensor(var) + w.int(100) + w.int(1000)
        + w.float(1) + w.float(1) + w.float(1) + w.float(0) + w.float(eps))
  data = (w.int(1) + w.string("loss_metric_2") + w.float(0.04) + w.float(0.6) + w.int(3) + _input(w) + bn
          + _layer_tail(w, input_level=True))
  (layer,) = dlib_format.parse_network(data).layers
  scale = gamma / np.sqrt(var + eps)  # y = gamma * (x - mean) / sqrt(var + eps) + beta
  np.testing.assert_allclose(layer.weights["scale"], scale, rtol=1e-6)
  np.testing.assert_allclose(layer.weights["shift"], beta - scale * mean, rtol=1e-6)


def test_corrupt_files_give_clear_errors(tiny_network, writer, tmp_path):
  data = tiny_network[0]
  with pytest.raises(dlib_format.DlibFormatError, match="truncated"):
    dlib_format.parse_network(data[:-5])
  with pytest.raises(dlib_format.DlibFormatError, match="trailing bytes"):
    dlib_format.parse_network(data + b"\x01\x00")
  with pytest.raises(dlib_format.DlibFormatError, match="unsupported dlib layer 'sig_'"):
    dlib_format.parse_network(data.replace(b"\x05relu_", b"\x04sig_"))
  with pytest.raises(FileNotFoundError, match="not found"):
    dlib_format.load_network(tmp_path / "missing.dat")


def test_real_model_files(models_dir):
  resnet = dlib_format.load_network(f"{models_dir}/dlib_face_recognition_resnet_model_v1.dat")
  kinds = [layer.kind for layer in resnet.layers]
  # 29 conv+affine+relu, 14 residual adds, 4 shortcut pools + global pool, 1 max pool, 1 fc; tags/skips: 22.
  assert (kinds.count("con"), kinds.count("affine"), kinds.count("add_prev"), kinds.count("avg_pool"),
          kinds.count("fc"), kinds.count("tag_or_skip")) == (29, 29, 14, 5, 1, 22)
  assert resnet.computational("fc")[0].weights["kernel"].shape == (256, 128)
  assert resnet.input["size"] == (150, 150) and resnet.loss["distance_threshold"] == pytest.approx(0.6)
  detector = dlib_format.load_network(f"{models_dir}/mmod_human_face_detector.dat")
  assert [c.attrs["features"] for c in detector.computational("con")] == [16, 32, 32, 45, 45, 45, 1]
  assert detector.loss["detector_windows"] == [(80, 80)]
  assert detector.loss["overlaps_nms"]["iou_thresh"] == pytest.approx(0.3383, abs=1e-4)
