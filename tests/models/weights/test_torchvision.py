"""Tests for jvision/models/weights/torchvision.py and files.py on synthetic torchvision-named state dicts."""

import json
import struct
import sys

import chex
import jax
import numpy as np
import pytest

from flax import traverse_util

from jvision.models import densenet, efficientnet
from jvision.models.weights import files, torchvision


def _resnet18_state_dict(num_classes=5, seed=0):
  """torchvision's resnet18 names and shapes, written out from the paper's table, with random values."""
  rng = np.random.RandomState(seed)
  state = {}

  def conv(name, out, inp, k):
    state[f"{name}.weight"] = (rng.randn(out, inp, k, k) * np.sqrt(2 / (inp * k * k))).astype(np.float32)

  def bn(name, c):
    state[f"{name}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    state[f"{name}.bias"] = 0.1 * rng.randn(c).astype(np.float32)
    state[f"{name}.running_mean"] = 0.1 * rng.randn(c).astype(np.float32)
    state[f"{name}.running_var"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    state[f"{name}.num_batches_tracked"] = np.array(7, np.int64)

  conv("conv1", 64, 3, 7)
  bn("bn1", 64)
  inp = 64
  for layer, width in enumerate((64, 128, 256, 512), start=1):
    for block in range(2):
      prefix = f"layer{layer}.{block}"
      conv(f"{prefix}.conv1", width, inp, 3)
      bn(f"{prefix}.bn1", width)
      conv(f"{prefix}.conv2", width, width, 3)
      bn(f"{prefix}.bn2", width)
      if inp != width:
        conv(f"{prefix}.downsample.0", width, inp, 1)
        bn(f"{prefix}.downsample.1", width)
      inp = width
  state["fc.weight"] = (rng.randn(num_classes, 512) * 0.05).astype(np.float32)
  state["fc.bias"] = rng.randn(num_classes).astype(np.float32)
  return state


def _write_safetensors(path, state):
  """The format by its specification: u64 header size, JSON header, concatenated little-endian bytes."""
  header, blobs, offset = {}, [], 0
  for name, value in state.items():
    raw = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes()
    dtype = {"float32": "F32", "int64": "I64"}[value.dtype.name]
    header[name] = {"dtype": dtype, "shape": list(value.shape), "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
  encoded = json.dumps(header).encode()
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def _torch_conv(x_nchw, w_oihw, stride, pad):
  """torch.nn.functional.conv2d semantics (cross-correlation) in numpy."""
  x = np.pad(x_nchw, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  k = w_oihw.shape[-1]
  oh, ow = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
  out = np.zeros((x.shape[0], w_oihw.shape[0], oh, ow))
  for i in range(oh):
    for j in range(ow):
      patch = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
      out[:, :, i, j] = np.einsum("bchw,ochw->bo", patch, w_oihw)
  return out


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_resnet18_state_dict_file_maps_names_layouts_and_statistics(tmp_path, suffix):
  state = _resnet18_state_dict()
  path = str(tmp_path / f"resnet18.{suffix}")
  if suffix == "npz":
    np.savez(path, **state)
  else:
    _write_safetensors(path, state)
  model, variables = torchvision.import_torchvision("resnet18", path)
  assert model.num_classes == 5
  chex.assert_trees_all_close(variables["params"]["layer2_0"]["downsample_conv"]["kernel"],
                              state["layer2.0.downsample.0.weight"].transpose(2, 3, 1, 0))
  chex.assert_trees_all_close(variables["batch_stats"]["layer4_1"]["bn2"]["var"],
                              state["layer4.1.bn2.running_var"])
  chex.assert_trees_all_close(variables["params"]["fc"]["kernel"], state["fc.weight"].T)
  # The stem computed with torch's semantics from the raw state dict.
  x = np.random.RandomState(1).randn(2, 16, 16, 3).astype(np.float32)
  logits, features = model.apply(variables, x, return_features=True)
  y = _torch_conv(x.transpose(0, 3, 1, 2), state["conv1.weight"], 2, 3)
  shape = (1, -1, 1, 1)
  y = ((y - state["bn1.running_mean"].reshape(shape)) / np.sqrt(state["bn1.running_var"].reshape(shape) + 1e-5)
       * state["bn1.weight"].reshape(shape) + state["bn1.bias"].reshape(shape))
  chex.assert_trees_all_close(features["stem"], np.maximum(y, 0).transpose(0, 2, 3, 1), atol=1e-4, rtol=1e-4)
  # The head computed with torch's semantics from jvision's last feature map.
  pooled = np.asarray(features["layer4"]).mean(axis=(1, 2))
  chex.assert_trees_all_close(logits, pooled @ state["fc.weight"].T + state["fc.bias"], atol=1e-4, rtol=1e-4)


def test_vgg_classifier_reorders_torch_nchw_flatten():
  rng = np.random.RandomState(0)
  state, index, inp = {}, 0, 3
  for num_convs, width in zip((1, 1, 2, 2, 2), (64, 128, 256, 512, 512)):  # VGG-11
    for _ in range(num_convs):
      kernel = rng.randn(width, inp, 3, 3) * np.sqrt(2 / (9 * inp))
      state[f"features.{index}.weight"] = kernel.astype(np.float32)
      state[f"features.{index}.bias"] = 0.1 * rng.randn(width).astype(np.float32)
      index, inp = index + 2, width
    index += 1
  for i, (out, inp) in zip((0, 3, 6), ((16, 512 * 49), (16, 16), (3, 16))):
    state[f"classifier.{i}.weight"] = rng.randn(out, inp).astype(np.float32) * 0.05
    state[f"classifier.{i}.bias"] = 0.1 * rng.randn(out).astype(np.float32)
  model, variables = torchvision.import_torchvision("vgg11", state)
  assert (model.pool_to, model.classifier_width, model.num_classes) == (7, 16, 3)
  x = rng.randn(1, 64, 64, 3).astype(np.float32)
  logits, features = jax.jit(lambda v, x: model.apply(v, x, return_features=True))(variables, x)
  # pool5 is 2x2; adaptive pooling to 7x7 repeats each cell over rows [0..3] and [3..6] (row 3 averages).
  pool5 = np.asarray(features["pool5"]).transpose(0, 3, 1, 2)  # NCHW, as torch holds it
  m = np.zeros((7, 2))
  m[:3, 0] = m[4:, 1] = 1
  m[3] = 0.5
  pooled = np.einsum("ph,bchw,qw->bcpq", m, pool5, m).reshape(1, -1)  # torch.flatten: channel-major
  h = np.maximum(pooled @ state["classifier.0.weight"].T + state["classifier.0.bias"], 0)
  h = np.maximum(h @ state["classifier.3.weight"].T + state["classifier.3.bias"], 0)
  expected = h @ state["classifier.6.weight"].T + state["classifier.6.bias"]
  chex.assert_trees_all_close(logits, expected, atol=1e-4, rtol=1e-4)


def test_bad_state_dicts_are_refused_by_name(tmp_path):
  state = _resnet18_state_dict()
  with pytest.raises(KeyError, match="unknown parameter names.*params/layer1_0/conv9/kernel"):
    torchvision.import_torchvision("resnet18", {**state, "layer1.0.conv9.weight": np.zeros((64, 64, 3, 3))})
  with pytest.raises(KeyError, match="not a torchvision ViT state dict; missing conv_proj.weight"):
    torchvision.import_torchvision("vit_b16", state)
  with pytest.raises(KeyError, match="unknown torchvision parameter names: features.99.weight"):
    torchvision.import_torchvision("vgg11", {"features.99.weight": np.zeros((3, 3, 3, 3))})
  # (A 3x3 conv1 is no longer a mismatch: it is read as the CIFAR stem.)
  with pytest.raises(ValueError, match=r"shape mismatch for params/layer1_0/conv1/kernel"):
    torchvision.import_torchvision("resnet18", {**state, "layer1.0.conv1.weight": np.zeros((64, 64, 5, 5))})
  headless = {k: v for k, v in state.items() if not k.startswith("fc.")}
  with pytest.raises(KeyError, match="missing from the checkpoint: params/fc/bias"):
    torchvision.import_torchvision("resnet18", headless)
  _, variables = torchvision.import_torchvision("resnet18", headless, allow_missing_head=True, num_classes=2)
  chex.assert_shape(variables["params"]["fc"]["kernel"], (512, 2))
  with pytest.raises(FileNotFoundError, match="missing.npz"):
    files.load_state_dict(str(tmp_path / "missing.npz"))
  (tmp_path / "w.bin").write_bytes(b"")
  with pytest.raises(ValueError, match="expected .npz, .safetensors, .pth"):
    files.load_state_dict(str(tmp_path / "w.bin"))


def test_pth_without_torch_explains_how_to_convert(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail even where torch is installed
  (tmp_path / "w.pth").write_bytes(b"")
  with pytest.raises(ImportError, match="needs PyTorch.*np.savez"):
    files.load_state_dict(str(tmp_path / "w.pth"))


def test_pth_file_written_by_torch(tmp_path):
  torch = pytest.importorskip("torch")
  state = _resnet18_state_dict(num_classes=3)
  path = str(tmp_path / "resnet18.pth")
  torch.save({"state_dict": {f"module.{k}": torch.from_numpy(v) for k, v in state.items()}}, path)
  loaded = files.load_state_dict(path)
  assert set(loaded) == set(state)
  chex.assert_trees_all_close(loaded["layer3.1.bn1.running_mean"], state["layer3.1.bn1.running_mean"])
  assert loaded["bn1.num_batches_tracked"].dtype == np.int64


def test_safetensors_bfloat16_and_truncated_header(tmp_path):
  header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
                       "__metadata__": {"format": "pt"}}).encode()
  # bfloat16 is the top half of float32: 1.0 -> 0x3F80, -2.0 -> 0xC000.
  path = tmp_path / "w.safetensors"
  path.write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<HH", 0x3F80, 0xC000))
  chex.assert_trees_all_close(files.read_safetensors(str(path))["w"].astype(np.float32), np.array([1.0, -2.0]))
  path.write_bytes(struct.pack("<Q", 1000) + b"{}")
  with pytest.raises(ValueError, match="header length 1000 exceeds"):
    files.read_safetensors(str(path))


def test_densenet_names_including_the_pre_0_3_spelling():
  small = {"block_config": (2, 3), "growth_rate": 8, "num_init_features": 16, "num_classes": 4}
  shapes = jax.eval_shape(densenet.DenseNet(**small).init, jax.random.key(0), np.zeros((1, 32, 32, 3)))
  rng = np.random.RandomState(0)
  variables = jax.tree.map(lambda s: rng.randn(*s.shape).astype(np.float32), shapes)
  # torchvision's names written from its DenseNet definition: features.{conv0, norm0, denseblockI.denselayerJ.
  # {norm1, conv1, norm2, conv2}, transitionI.{norm, conv}, norm5} and classifier.
  state = {}
  for tree in variables.values():
    for path, value in traverse_util.flatten_dict(tree).items():
      module = ".".join(path[:-1]).replace("_denselayer", ".denselayer")
      leaf = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
              "var": "running_var"}[path[-1]]
      value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T if value.ndim == 2 else value
      state[f"{'' if module == 'classifier' else 'features.'}{module}.{leaf}"] = value
  assert "features.denseblock2.denselayer3.conv2.weight" in state and "features.transition1.norm.bias" in state
  old_style = {k.replace("denselayer1.norm1.", "denselayer1.norm.1."): v for k, v in state.items()}
  for source in (state, old_style):
    model, imported = torchvision.import_torchvision("densenet121", source, **small)
    assert model.block_config == (2, 3)
    chex.assert_trees_all_close(imported, variables)


def test_vit_state_dict_matches_a_torch_forward():
  torch = pytest.importorskip("torch")
  rng = np.random.RandomState(0)
  d, heads, mlp, patch, size, depth, classes = 16, 2, 24, 8, 16, 2, 3
  r = lambda *shape: (0.3 * rng.randn(*shape)).astype(np.float32)
  state = {"conv_proj.weight": r(d, 3, patch, patch), "conv_proj.bias": r(d), "class_token": r(1, 1, d),
           "encoder.pos_embedding": r(1, (size // patch) ** 2 + 1, d), "encoder.ln.weight": 1 + r(d),
           "encoder.ln.bias": r(d), "heads.head.weight": r(classes, d), "heads.head.bias": r(classes)}
  for i in range(depth):
    prefix = f"encoder.layers.encoder_layer_{i}."
    state.update({prefix + "ln_1.weight": 1 + r(d), prefix + "ln_1.bias": r(d),
                  prefix + "self_attention.in_proj_weight": r(3 * d, d),
                  prefix + "self_attention.in_proj_bias": r(3 * d),
                  prefix + "self_attention.out_proj.weight": r(d, d),
                  prefix + "self_attention.out_proj.bias": r(d),
                  prefix + "ln_2.weight": 1 + r(d), prefix + "ln_2.bias": r(d),
                  prefix + "mlp.0.weight": r(mlp, d), prefix + "mlp.0.bias": r(mlp),
                  prefix + "mlp.3.weight": r(d, mlp), prefix + "mlp.3.bias": r(d)})
  model, variables = torchvision.import_torchvision("vit_tiny", state, num_heads=heads)
  assert (model.image_size, model.patch_size, model.depth, model.mlp_dim) == (size, patch, depth, mlp)
  x = rng.randn(2, size, size, 3).astype(np.float32)
  got = model.apply(variables, x)

  # torchvision's forward, written with torch's own layers.
  t = {k: torch.from_numpy(v) for k, v in state.items()}
  with torch.no_grad():
    y = torch.nn.functional.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2), t["conv_proj.weight"],
                                   t["conv_proj.bias"], stride=patch)
    y = y.flatten(2).transpose(1, 2)
    y = torch.cat([t["class_token"].expand(2, -1, -1), y], 1) + t["encoder.pos_embedding"]
    for i in range(depth):
      prefix = f"encoder.layers.encoder_layer_{i}."
      attention = torch.nn.MultiheadAttention(d, heads, batch_first=True)
      attention.load_state_dict({k[len(prefix + "self_attention."):]: v for k, v in t.items()
                                 if k.startswith(prefix + "self_attention.")})
      h = torch.nn.functional.layer_norm(y, (d,), t[prefix + "ln_1.weight"], t[prefix + "ln_1.bias"], 1e-6)
      y = y + attention(h, h, h, need_weights=False)[0]
      h = torch.nn.functional.layer_norm(y, (d,), t[prefix + "ln_2.weight"], t[prefix + "ln_2.bias"], 1e-6)
      h = torch.nn.functional.linear(h, t[prefix + "mlp.0.weight"], t[prefix + "mlp.0.bias"])
      h = torch.nn.functional.gelu(h)
      y = y + torch.nn.functional.linear(h, t[prefix + "mlp.3.weight"], t[prefix + "mlp.3.bias"])
    y = torch.nn.functional.layer_norm(y, (d,), t["encoder.ln.weight"], t["encoder.ln.bias"], 1e-6)
    expected = torch.nn.functional.linear(y[:, 0], t["heads.head.weight"], t["heads.head.bias"]).numpy()
  chex.assert_trees_all_close(got, expected, atol=1e-4, rtol=1e-4)


def test_efficientnet_names_padding_and_epsilon_follow_torchvision():
  small = {"width": 0.25, "depth": 0.6}  # B0's layout, fewer channels and blocks, so the test stays fast
  shapes = jax.eval_shape(efficientnet.EfficientNetB0(num_classes=3, **small).init, jax.random.key(0),
                          np.zeros((1, 32, 32, 3)))
  rng = np.random.RandomState(0)
  variables = jax.tree.map(lambda s: (0.2 * rng.randn(*s.shape)).astype(np.float32), shapes)
  variables["batch_stats"] = jax.tree.map(lambda v: np.abs(v) + 0.5, variables["batch_stats"])
  flat = traverse_util.flatten_dict(variables, sep="/")
  # torchvision's efficientnet_b0 names: features.0 stem, features.1..7 stages of MBConv
  # (block.0 expand unless expand_ratio is 1, then depthwise, SE fc1/fc2, project), features.8 head conv.
  state = {}
  for path, value in flat.items():
    module, leaf = "/".join(path.split("/")[1:-1]), path.split("/")[-1]
    if module.startswith("block"):
      stage, block, part = int(module[5]), ord(module[6]) - ord("a"), module.split("/")[1]
      order = (["expand_conv", "expand_bn"] if stage > 1 else []) + ["dwconv", "bn", "se_reduce", "se_expand",
                                                                     "project_conv", "project_bn"]
      index = order.index(part)
      sub = {"se_reduce": "fc1", "se_expand": "fc2"}.get(part, str(index % 2))
      torch_module = f"features.{stage}.{block}.block.{index // 2}.{sub}"
    else:
      torch_module = {"stem_conv": "features.0.0", "stem_bn": "features.0.1", "top_conv": "features.8.0",
                      "top_bn": "features.8.1", "classifier": "classifier.1"}[module]
    torch_leaf = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
                  "var": "running_var"}[leaf]
    value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T if value.ndim == 2 else value
    state[f"{torch_module}.{torch_leaf}"] = value
  assert "features.1.0.block.1.fc2.weight" in state and "features.6.2.block.3.1.running_var" in state
  model, imported = torchvision.import_torchvision("efficientnet_b0", state, **small)
  chex.assert_trees_all_close(imported, variables)
  assert (model.same_padding, model.bn_epsilon, model.num_classes) == (False, 1e-5, 3)
  # The stem with torch's semantics: symmetric padding 1 at stride 2, BN with epsilon 1e-5, SiLU.
  x = rng.randn(1, 16, 16, 3).astype(np.float32)
  _, features = jax.jit(lambda v, x: model.apply(v, x, return_features=True))(imported, x)
  y = _torch_conv(x.transpose(0, 3, 1, 2), state["features.0.0.weight"], 2, 1)
  shape = (1, -1, 1, 1)
  y = ((y - state["features.0.1.running_mean"].reshape(shape))
       / np.sqrt(state["features.0.1.running_var"].reshape(shape) + 1e-5)
       * state["features.0.1.weight"].reshape(shape) + state["features.0.1.bias"].reshape(shape))
  y = y / (1 + np.exp(-y))
  chex.assert_trees_all_close(features["stem"], y.transpose(0, 2, 3, 1), atol=1e-4, rtol=1e-4)


def test_resnet_export_is_the_inverse_of_import(tmp_path):
  # Torchvision's own names and layouts come out: the synthetic resnet18 state dict survives import + export.
  state = _resnet18_state_dict()
  _, variables = torchvision.import_torchvision("resnet18", state)
  exported = torchvision.export_torchvision("resnet18", variables)
  expected = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
  assert sorted(exported) == sorted(expected)
  chex.assert_trees_all_equal(exported, expected)
  # A narrow CIFAR-stem ResNet, trained or not, goes through a file and back; width and stem are read
  # from conv1's shape.
  from jvision.models import resnet
  model = resnet.ResNet18(num_classes=3, width=8, cifar_stem=True)
  variables = jax.jit(model.init)(jax.random.key(0), np.zeros((1, 16, 16, 3), np.float32))
  variables = jax.tree.map(lambda x: x + np.random.RandomState(x.size).randn(*x.shape).astype(np.float32),
                           variables)
  path = str(tmp_path / "narrow.npz")
  files.save_state_dict(path, torchvision.export_torchvision("resnet18", variables))
  assert np.load(path)["layer2.0.downsample.1.running_mean"].shape == (16,)
  imported_model, imported = torchvision.import_torchvision("resnet18", path)
  assert (imported_model.width, imported_model.cifar_stem, imported_model.num_classes) == (8, True, 3)
  chex.assert_trees_all_equal(imported, jax.device_get(variables))
  with pytest.raises(KeyError, match="no torchvision export for 'vgg16'; known: resnet101"):
    torchvision.export_torchvision("vgg16", variables)
