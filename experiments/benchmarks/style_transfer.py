r"""Neural style transfer optimization steps per second, jvision (JAX) and, where installed, PyTorch.

    python experiments/benchmarks/style_transfer.py [--sizes 256 512] [--optimizers adam lbfgs] [--steps 3]
        [--torch/--no-torch]

One step of ``jvision.style_transfer`` (random VGG-19, content conv4_2, style conv1_1..conv5_1, pixels clipped
to [0, 1]) on a size x size astronaut/brick pair, timed as a compiled chunk of ``--steps`` steps after a
warm-up chunk that includes compilation. L-BFGS steps include their zoom line search (one or more loss and
gradient evaluations each). Where ``torch`` is importable, the same loop runs in PyTorch on the same machine:
VGG-19 features written out (torchvision is not needed), the same losses, ``torch.optim.Adam`` or
``torch.optim.LBFGS(line_search_fn="strong_wolfe")`` with one iteration per step, clamping after each step;
the ratio jvision/PyTorch is printed. PyTorch is optional: nothing in jvision needs it.
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jvision import style_transfer as st


def jax_steps_per_second(extractor, content, style, optimizer: str, steps: int) -> float:
  config = st.StyleConfig(optimizer=optimizer)
  targets_fn, init_fn, chunk_fn = st.compiled_functions(config, steps)
  weights = {k: jnp.float32(v) for k, v in config.loss_weights().items()}
  targets = targets_fn(extractor, content[None], style[None])
  state = init_fn(extractor, content[None], targets, weights)
  state, losses = chunk_fn(extractor, state, targets, weights)  # warm-up, with the compilation
  jax.block_until_ready((state, losses))
  start = time.perf_counter()
  state, losses = chunk_fn(extractor, state, targets, weights)
  jax.block_until_ready((state, losses))
  if not np.all(np.isfinite(np.asarray(losses))):
    raise RuntimeError(f"non-finite loss in the jvision {optimizer} run")
  return steps / (time.perf_counter() - start)


def torch_steps_per_second(content, style, optimizer: str, steps: int) -> float:
  import torch  # pylint: disable=import-outside-toplevel
  from torch import nn  # pylint: disable=import-outside-toplevel
  torch.manual_seed(0)
  layers, names, cin = [], [], 3
  for b, (num_convs, width) in enumerate(zip((2, 2, 4, 4, 4), (64, 128, 256, 512, 512)), start=1):
    for i in range(1, num_convs + 1):
      layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU()]
      names += [None, f"conv{b}_{i}"]
      cin = width
    layers.append(nn.MaxPool2d(2))
    names.append(None)
  last = names.index("conv5_1") + 1
  layers, names = layers[:last], names[:last]
  vgg = nn.Sequential(*layers).eval()
  for p in vgg.parameters():
    p.requires_grad_(False)
  mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
  std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

  def features(x):
    out, x = {}, (x - mean) / std
    for layer, name in zip(vgg, names):
      x = layer(x)
      if name:
        out[name] = x
    return out

  def gram(f):
    b, c, h, w = f.shape
    f = f.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)

  to_torch = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)[None]))
  with torch.no_grad():
    content_target = features(to_torch(content))["conv4_2"]
    style_targets = {k: gram(v) for k, v in features(to_torch(style)).items() if k in st.STYLE_LAYERS}
  image = to_torch(content).clone().requires_grad_(True)

  def objective():
    f = features(image)
    loss = torch.mean((f["conv4_2"] - content_target) ** 2)
    style = sum(torch.mean((gram(f[k]) - t) ** 2) for k, t in style_targets.items()) / len(style_targets)
    return loss + 1e6 * style

  if optimizer == "adam":
    opt = torch.optim.Adam([image], lr=0.02)
  else:
    opt = torch.optim.LBFGS([image], max_iter=1, history_size=10, line_search_fn="strong_wolfe")

  def closure():
    opt.zero_grad()
    loss = objective()
    loss.backward()
    return loss

  def run(n):
    for _ in range(n):
      opt.step(closure)
      with torch.no_grad():
        image.clamp_(0, 1)

  run(1)  # warm-up
  start = time.perf_counter()
  run(steps)
  return steps / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
  parser.add_argument("--optimizers", nargs="+", choices=st.OPTIMIZERS, default=list(st.OPTIMIZERS))
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True)
  args = parser.parse_args()
  have_torch = False
  if args.torch:
    try:
      import torch  # pylint: disable=import-outside-toplevel,unused-import
      have_torch = True
    except ImportError:
      print("torch is not installed: jvision only")
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    extractor = st.load_vgg19(None)
  print(f"device: {jax.devices()[0].device_kind}, {jax.device_count()} device(s); steps timed: {args.steps}")
  print(f"{'size':>5} {'optimizer':>9} {'jvision steps/s':>16} {'torch steps/s':>14} {'jvision/torch':>14}")
  for size in args.sizes:
    content = st.load_image("skimage:astronaut", size)
    style = st.load_image("skimage:brick", size)
    for optimizer in args.optimizers:
      ours = jax_steps_per_second(extractor, jnp.asarray(content), jnp.asarray(style), optimizer, args.steps)
      theirs = torch_steps_per_second(content, style, optimizer, args.steps) if have_torch else float("nan")
      ratio = f"{ours / theirs:14.2f}" if have_torch else f"{'-':>14}"
      print(f"{size:>5} {optimizer:>9} {ours:16.3f} {theirs:14.3f} {ratio}", flush=True)


if __name__ == "__main__":
  main()
