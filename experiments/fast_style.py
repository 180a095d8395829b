r"""Fast style transfer (Johnson, Alahi & Fei-Fei, ECCV 2016): a feed-forward transformation network trained
with the perceptual losses of Gatys et al., so that stylizing an image is one forward pass instead of an
optimization per image.

    python experiments/fast_style.py --workdir /tmp/fast_style [--config.steps=300 --config.style=skimage:brick]

Content images are random crops (with flips) of scikit-image samples; two samples are held out for
evaluation. The style targets (Gram matrices of the style image) are computed once; each step computes the
content targets of the batch and the loss of the network's outputs through the frozen VGG-19 of
``jvision.style_transfer`` (random weights unless ``config.vgg_weights`` names a file, with a warning). At
the end the held-out images are scored by the same objective for four candidates: the content image itself
(identity), the network before and after training, and the per-image optimization (``stylize_batch``, L-BFGS,
``config.optimization_steps`` steps); with the wall time per image of the network's forward pass and of the
optimization. Writes ``results.json``, ``grid.png`` (rows: content, network, optimization) and the network's
parameters (``transform_net.msgpack``) to the workdir.

Goal: on the held-out images the trained network's loss is below half the untrained network's and below a
tenth of the identity's, and its forward pass is at least 100x faster per image than the optimization.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import serialization
from PIL import Image

from jvision import config as config_lib, style_transfer as st, viz
from jvision.models import transform_net


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.style = "skimage:brick"
  config.train_images = ("astronaut", "coffee", "hubble_deep_field", "immunohistochemistry", "retina",
                         "colorwheel")
  config.eval_images = ("chelsea", "rocket")
  config.image_size = 64  # square crops, pixels
  config.vgg_weights = ""  # empty: random VGG-19 (the mechanism, not the quality)
  config.content_weight = 1.0
  config.style_weight = 1e6
  config.tv_weight = 0.0
  config.width = 16  # the paper's 32, halved for CPU
  config.num_residual = 5
  config.batch_size = 4
  config.steps = 300
  config.learning_rate = 2e-3
  config.log_every_steps = 25
  config.optimization_steps = 30
  return config


def sample_sources(names, short_side: int) -> list[np.ndarray]:
  """The named scikit-image samples as uint8 RGB, the shorter side resized to ``short_side``."""
  images = []
  for name in names:
    image = (st.load_image(f"skimage:{name}") * 255).round().astype(np.uint8)
    factor = short_side / min(image.shape[:2])
    size = (max(short_side, round(image.shape[1] * factor)), max(short_side, round(image.shape[0] * factor)))
    images.append(np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)))
  return images


def random_crops(sources, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
  """``count`` random ``size`` x ``size`` crops with random horizontal flips -> float32 ``[count, size, size, 3]``."""
  crops = []
  for _ in range(count):
    image = sources[rng.integers(len(sources))]
    top, left = rng.integers(image.shape[0] - size + 1), rng.integers(image.shape[1] - size + 1)
    crop = image[top:top + size, left:left + size]
    crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
  return np.stack(crops).astype(np.float32) / 255.0


def center_crops(sources, size: int) -> np.ndarray:
  out = []
  for image in sources:
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    out.append(image[top:top + size, left:left + size])
  return np.stack(out).astype(np.float32) / 255.0


def make_functions(config, extractor, style_config, model):
  """``(train_step, batch_loss, forward)``, pure and jitted; the extractor is an argument, not a constant."""
  weights = {"content": config.content_weight, "style": config.style_weight, "tv": config.tv_weight}

  def batch_loss(extractor, outputs, contents, style_grams):
    targets = {"content": {name: f for name, f in extractor(contents).items()
                           if name in style_config.content_layers}, "style": style_grams}
    return st.total_loss(st.loss_terms(extractor, outputs, targets, style_config), weights)  # [B]

  tx = optax.adam(config.learning_rate)

  def train_step(params, opt_state, extractor, contents, style_grams):
    def objective(params):
      return jnp.mean(batch_loss(extractor, model.apply({"params": params}, contents), contents, style_grams))
    loss, grads = jax.value_and_grad(objective)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  forward = jax.jit(lambda params, images: model.apply({"params": params}, images))
  return jax.jit(train_step), jax.jit(batch_loss), forward, tx


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True)
  args, overrides = parser.parse_known_args(argv)
  config = get_config()
  for override in overrides:
    key, sep, value = override.partition("=")
    if not sep or not key.startswith("--config."):
      raise config_lib.ConfigError(f"expected --config.KEY=VALUE; got {override!r}")
    config_lib.set_value(config, key.removeprefix("--config."), value)
  os.makedirs(args.workdir, exist_ok=True)
  size = config.image_size
  if size % 4 or size < 32:
    raise config_lib.ConfigError(f"config key 'image_size' must be a multiple of 4, at least 32; got {size}")

  if not config.vgg_weights:
    print(f"WARNING: {st.RANDOM_WEIGHTS_WARNING}", file=sys.stderr)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    extractor = st.load_vgg19(config.vgg_weights or None)
  style_config = st.StyleConfig(content_weight=config.content_weight, style_weight=config.style_weight,
                                tv_weight=config.tv_weight)
  style = jnp.asarray(st.load_image(config.style, 2 * size))[None]
  style_grams = jax.jit(lambda e, s: st.compute_targets(e, s, s, style_config)["style"])(extractor, style)

  model = transform_net.TransformNet(width=config.width, num_residual=config.num_residual)
  train_step, batch_loss, forward, tx = make_functions(config, extractor, style_config, model)
  rng = np.random.default_rng(config.seed)
  params = model.init(jax.random.key(config.seed), jnp.zeros((1, size, size, 3)))["params"]
  opt_state = tx.init(params)
  initial_params = params
  train_sources = sample_sources(config.train_images, 2 * size)
  eval_contents = jnp.asarray(center_crops(sample_sources(config.eval_images, size), size))

  start, history = time.perf_counter(), []
  for step in range(1, config.steps + 1):
    contents = jnp.asarray(random_crops(train_sources, size, config.batch_size, rng))
    params, opt_state, loss = train_step(params, opt_state, extractor, contents, style_grams)
    if step % config.log_every_steps == 0 or step == config.steps:
      loss = float(loss)
      if not np.isfinite(loss):
        raise FloatingPointError(f"non-finite training loss at step {step}")
      history.append((step, loss))
      print(f"step {step:5d}  loss {loss:.4g}  {time.perf_counter() - start:.0f} s", flush=True)
  train_seconds = time.perf_counter() - start

  # Held-out evaluation: identity, network, per-image optimization, all scored by the same objective.
  outputs = forward(params, eval_contents)
  jax.block_until_ready(outputs)
  start = time.perf_counter()
  outputs = jax.block_until_ready(forward(params, eval_contents))
  forward_seconds = (time.perf_counter() - start) / len(eval_contents)
  styles = jnp.broadcast_to(style, (len(eval_contents),) + style.shape[1:])
  start = time.perf_counter()
  optimized = st.stylize_batch(extractor, eval_contents, styles, style_config,
                               steps=config.optimization_steps, chunk_size=config.optimization_steps)
  optimization_seconds = (time.perf_counter() - start) / len(eval_contents)
  score = lambda images: float(jnp.mean(batch_loss(extractor, jnp.asarray(images), eval_contents, style_grams)))
  results = {
      "identity_loss": score(eval_contents), "untrained_network_loss": score(forward(initial_params, eval_contents)),
      "network_loss": score(outputs),
      "optimization_loss": score(optimized.image), "optimization_steps": config.optimization_steps,
      "forward_seconds_per_image": forward_seconds,
      "optimization_seconds_per_image_with_compile": optimization_seconds,
      "train_seconds": train_seconds, "train_loss_history": history, "config": config.to_dict(),
      "vgg": config.vgg_weights or "random (mechanism only)",
  }
  with open(os.path.join(args.workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=1, default=str)
  with open(os.path.join(args.workdir, "transform_net.msgpack"), "wb") as f:
    f.write(serialization.to_bytes(params))
  rows = [viz.to_uint8(np.asarray(image)) for group in (eval_contents, outputs, optimized.image)
          for image in group]
  viz.save_png(os.path.join(args.workdir, "grid.png"), viz.tile(rows, columns=len(eval_contents)))
  speedup = optimization_seconds / forward_seconds
  print(f"held-out perceptual loss: identity {results['identity_loss']:.4g}, untrained net "
        f"{results['untrained_network_loss']:.4g}, trained net {results['network_loss']:.4g}, "
        f"L-BFGS x{config.optimization_steps} {results['optimization_loss']:.4g}")
  print(f"per image: forward {1e3 * forward_seconds:.1f} ms, optimization {optimization_seconds:.1f} s "
        f"(incl. compile) = {speedup:.0f}x; training {train_seconds:.0f} s; wrote {args.workdir}")
  goal = (results["network_loss"] < 0.5 * results["untrained_network_loss"]
          and results["network_loss"] < results["identity_loss"] / 10 and speedup >= 100)
  print("goal (trained net loss < half the untrained net's and < identity / 10, forward >= 100x faster): "
        f"{'reached' if goal else 'NOT reached'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
