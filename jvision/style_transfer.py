"""Neural style transfer: gradient descent on the image through a frozen VGG-19 (Gatys, Ecker & Bethge, "Image
Style Transfer Using Convolutional Neural Networks", CVPR 2016).

The optimized variable is the image ``x`` (RGB in [0, 1]); the VGG-19 parameters are constants behind
``stop_gradient``. The loss is ``alpha * content + beta * style (+ tv * total variation)``: the content term
compares ``x``'s activations at the content layers (default ``conv4_2``) with the content image's, the style
term compares Gram matrices at ``conv1_1 .. conv5_1`` with the style image's (``jvision.losses.style``, which
documents the Gram normalization conventions). VGG-19 features are taken after ReLU with max pooling, as
the model zoo's VGG computes them (Gatys et al. swap in average pooling; we keep the network as trained).

Optimization runs in jit-compiled chunks of steps (``lax.scan``), with Adam or L-BFGS (optax, zoom line
search); after each step the pixels are clipped to [0, 1]. Options: initialization from the content, the
style or uniform noise; color preservation by luminance-only transfer (Gatys et al., "Preserving Color in
Neural Artistic Style Transfer", 2016: transfer on the YIQ luminance, with the style's luminance matched to
the content's mean and deviation, then the content's I and Q put back); coarse-to-fine optimization over a
list of scales, each initialized from the upsampled result of the previous one. ``stylize_batch`` solves
several independent problems (pairs, or loss weights) in one compiled call with ``vmap``.

CLI (random VGG-19 weights without ``--weights``, with a warning):

    python -m jvision.style_transfer --content skimage:astronaut --style skimage:brick \
        --weights vgg19.h5 --size 512 --steps 300 --out out.png
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import sys
import time
import warnings
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jvision import compilation
from jvision.losses import style as style_losses
from jvision.models import preprocessing, vgg

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYERS = ("conv4_2",)
INITS = ("content", "style", "noise")
OPTIMIZERS = ("adam", "lbfgs")
RANDOM_WEIGHTS_WARNING = (
    "no --weights given: VGG-19 is randomly initialized, so the result shows the mechanism of style transfer, "
    "not its quality. Convert ImageNet VGG-19 weights (Keras or torchvision, see the README) for real results.")

# RGB <-> YIQ (NTSC); Y is the luminance.
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263],
                       [0.211456, -0.522591, 0.311135]], np.float32)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class StyleConfig:
  """Everything an optimization depends on except the images, the steps and the loss weights' values.

  ``content_weight``/``style_weight``/``tv_weight`` are the defaults of ``alpha``/``beta``/``tv``;
  ``stylize_batch`` may override them per problem. ``style_layer_weights`` are the per-layer ``w_l``
  (default equal, summing to 1). ``learning_rate`` is Adam's, in [0, 1] pixel units; L-BFGS has a line search.
  """
  content_layers: tuple[str, ...] = CONTENT_LAYERS
  style_layers: tuple[str, ...] = STYLE_LAYERS
  style_layer_weights: Optional[tuple[float, ...]] = None
  content_weight: float = 1.0
  style_weight: float = 1e6
  tv_weight: float = 0.0
  gram_normalization: str = "all"
  content_reduction: str = "mean"
  optimizer: str = "lbfgs"
  learning_rate: float = 0.02
  lbfgs_memory: int = 10
  linesearch_steps: int = 10
  init: str = "content"
  preserve_color: bool = False
  scales: tuple[float, ...] = (1.0,)

  def __post_init__(self):
    known = {f"conv{b}_{i}" for b, n in enumerate(vgg.BLOCKS[19], start=1) for i in range(1, n + 1)}
    for layer in self.content_layers + self.style_layers:
      if layer not in known:
        raise ValueError(f"unknown VGG-19 layer {layer!r}; known: {', '.join(sorted(known))}")
    if not self.style_layers:
      raise ValueError("at least one style layer is needed")
    if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
      raise ValueError(f"{len(self.style_layer_weights)} style layer weights for {len(self.style_layers)} "
                       "style layers")
    if self.optimizer not in OPTIMIZERS:
      raise ValueError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    if self.init not in INITS:
      raise ValueError(f"unknown init {self.init!r}; known: {', '.join(INITS)}")
    if self.gram_normalization not in style_losses.GRAM_NORMALIZATIONS:
      raise ValueError(f"unknown Gram normalization {self.gram_normalization!r}; known: "
                       f"{', '.join(style_losses.GRAM_NORMALIZATIONS)}")
    if not self.scales or any(not 0 < s <= 1 for s in self.scales) or list(self.scales) != sorted(self.scales):
      raise ValueError(f"scales must be increasing values in (0, 1]; got {self.scales}")

  def layer_weights(self) -> dict[str, float]:
    weights = self.style_layer_weights or (1.0 / len(self.style_layers),) * len(self.style_layers)
    return dict(zip(self.style_layers, (float(w) for w in weights)))

  def loss_weights(self) -> dict[str, float]:
    return {"content": self.content_weight, "style": self.style_weight, "tv": self.tv_weight}


@struct.dataclass
class FeatureExtractor:
  """A frozen VGG-19: RGB ``[B, H, W, 3]`` in [0, 1] -> dict of ``[B, h, w, C]`` features after ReLU.

  ``preprocess`` maps RGB in [0, 255] to the network's input convention (``jvision.models.preprocessing``).
  The parameters sit behind ``stop_gradient``: gradients reach the image, never the network.
  """
  model: vgg.VGG = struct.field(pytree_node=False)
  params: Any
  preprocess: Callable[[jnp.ndarray], jnp.ndarray] = struct.field(pytree_node=False)

  def __call__(self, images: jnp.ndarray) -> dict[str, jnp.ndarray]:
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"images must be RGB [B, H, W, 3]; got shape {tuple(images.shape)}")
    if min(images.shape[1:3]) < 32:
      raise ValueError(f"VGG-19 needs images of at least 32x32 pixels; got {images.shape[1]}x{images.shape[2]}")
    params = jax.lax.stop_gradient(self.params)
    _, features = self.model.apply({"params": params}, self.preprocess(images * 255.0), return_features=True)
    return features


def _small_head_vgg19() -> vgg.VGG:
  # The classifier is never used here; a 1-unit head keeps ~120M unused parameters out of memory (and jit
  # drops its computation, since no feature depends on it).
  return vgg.VGG(depth=19, pool_to=1, classifier_width=1, num_classes=1)


def load_vgg19(weights: Optional[str] = None, rng: Optional[jax.Array] = None) -> FeatureExtractor:
  """The feature extractor of a VGG-19 checkpoint, or of a random VGG-19 (with a warning) for ``None``.

  ``.h5``/``.keras``: a Keras applications VGG19 (caffe preprocessing); ``.npz``/``.safetensors``/``.pth``:
  a torchvision ``vgg19`` state dict (torch preprocessing). Only the convolutions are kept.
  """
  if weights is not None and not weights.endswith((".h5", ".keras", ".npz", ".safetensors", ".pth", ".pt")):
    raise ValueError(f"unsupported VGG-19 weights file {weights}: expected .h5/.keras (Keras) or "
                     ".npz/.safetensors/.pth/.pt (torchvision)")
  model = _small_head_vgg19()
  rng = jax.random.key(0) if rng is None else rng
  small_head = {"pool_to": 1, "classifier_width": 1, "num_classes": 1}
  if weights is None:
    warnings.warn(RANDOM_WEIGHTS_WARNING, stacklevel=2)
    params = compilation.init_once(model.init, rng, jnp.zeros((1, 32, 32, 3), jnp.float32))["params"]
    return FeatureExtractor(model, params, preprocessing.torch)
  if weights.endswith((".h5", ".keras")):
    from jvision.models.weights import keras_applications  # pylint: disable=import-outside-toplevel
    if _keras_has_top(weights):  # Import as it is, then keep the convolutions only.
      _, variables = keras_applications.import_keras("vgg19", weights)
      params = compilation.init_once(model.init, rng, jnp.zeros((1, 32, 32, 3), jnp.float32))["params"]
      params = {name: (variables["params"][name] if name.startswith("conv") else value)
                for name, value in params.items()}
    else:
      _, variables = keras_applications.import_keras("vgg19", weights, include_top=False, rng=rng, **small_head)
      params = variables["params"]
    return FeatureExtractor(model, jax.tree.map(jnp.asarray, params), preprocessing.caffe)
  from jvision.models.weights import files, torchvision  # pylint: disable=import-outside-toplevel
  state = {k: v for k, v in files.load_state_dict(weights).items() if k.startswith("features.")}
  _, variables = torchvision.import_torchvision("vgg19", state, allow_missing_head=True, rng=rng, **small_head)
  return FeatureExtractor(model, jax.tree.map(jnp.asarray, variables["params"]), preprocessing.torch)


def _keras_has_top(path: str) -> bool:
  """Whether a Keras VGG19 file holds the classifier (``fc1``); full-model files are read as they are."""
  import h5py  # pylint: disable=import-outside-toplevel
  if not path.endswith(".h5"):
    return True
  with h5py.File(path, "r") as f:
    names = []
    f.visit(names.append)
  return any("fc1" in name for name in names)


# ---------------------------------------------------------------------------------------------------------
# The loss.


def compute_targets(extractor: FeatureExtractor, content: jnp.ndarray, style: jnp.ndarray,
                    config: StyleConfig) -> dict[str, dict[str, jnp.ndarray]]:
  """Content representation ``P`` (features) and style representation ``A`` (Gram matrices).

  ``content [B, H, W, 3]``, ``style [B, Hs, Ws, 3]`` in [0, 1] -> ``{"content": {layer: [B, h, w, C]},
  "style": {layer: [B, C, C]}}``.
  """
  content_features = extractor(content)
  style_features = extractor(style)
  return {"content": {name: content_features[name] for name in config.content_layers},
          "style": {name: style_losses.gram_matrix(style_features[name], config.gram_normalization)
                    for name in config.style_layers}}


def loss_terms(extractor: FeatureExtractor, image: jnp.ndarray, targets: Mapping[str, Mapping[str, Any]],
               config: StyleConfig) -> dict[str, jnp.ndarray]:
  """The unweighted ``content``, ``style`` and ``tv`` losses of ``image [B, H, W, 3]``, each ``[B]``."""
  features = extractor(image)
  content = sum(style_losses.content_loss(features[name], target, config.content_reduction)
                for name, target in targets["content"].items()) / len(targets["content"])
  style = style_losses.style_loss(features, targets["style"], config.layer_weights(), config.gram_normalization)
  return {"content": content, "style": style, "tv": style_losses.total_variation(image)}


def total_loss(terms: Mapping[str, jnp.ndarray], weights: Mapping[str, Any]) -> jnp.ndarray:
  """``alpha * content + beta * style + tv * total_variation``, ``[B]``."""
  return weights["content"] * terms["content"] + weights["style"] * terms["style"] + weights["tv"] * terms["tv"]


# ---------------------------------------------------------------------------------------------------------
# The optimization.


class OptimizationState(NamedTuple):
  """The image being optimized ``[B, H, W, 3]``, the optimizer state, and the loss and gradient at ``image``
  (L-BFGS reuses the line search's evaluation when clipping left the step unchanged)."""
  image: jnp.ndarray
  opt_state: Any
  value: jnp.ndarray
  grad: jnp.ndarray


def make_optimizer(config: StyleConfig) -> optax.GradientTransformationExtraArgs:
  if config.optimizer == "adam":
    return optax.adam(config.learning_rate)
  return optax.lbfgs(memory_size=config.lbfgs_memory,
                     linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=config.linesearch_steps))


def make_objective(extractor: FeatureExtractor, config: StyleConfig) -> Callable[..., jnp.ndarray]:
  """``objective(image, targets, weights) -> scalar``: the total loss summed over the batch."""
  def objective(image, targets, weights):
    return jnp.sum(total_loss(loss_terms(extractor, image, targets, config), weights))
  return objective


def init_state(extractor: FeatureExtractor, config: StyleConfig, image: jnp.ndarray, targets, weights
               ) -> OptimizationState:
  objective = make_objective(extractor, config)
  value, grad = jax.value_and_grad(objective)(image, targets, weights)
  # Strong dtypes, as a step returns them, so that the second chunk does not recompile.
  opt_state = jax.tree.map(lambda x: jnp.array(x, dtype=x.dtype), make_optimizer(config).init(image))
  return OptimizationState(image, opt_state, value, grad)


def optimize_chunk(extractor: FeatureExtractor, config: StyleConfig, state: OptimizationState, targets,
                   weights, num_steps: int) -> tuple[OptimizationState, jnp.ndarray]:
  """``num_steps`` optimizer steps as one ``lax.scan``; returns the new state and the loss before each step.

  Pure and unbatched (one problem); jit it, or vmap it over a leading axis of independent problems.
  """
  objective = make_objective(extractor, config)
  optimizer = make_optimizer(config)
  value_and_grad = jax.value_and_grad(objective)

  def step(state: OptimizationState, _):
    if config.optimizer == "lbfgs":
      updates, opt_state = optimizer.update(state.grad, state.opt_state, state.image, value=state.value,
                                            grad=state.grad, value_fn=lambda x: objective(x, targets, weights))
    else:
      updates, opt_state = optimizer.update(state.grad, state.opt_state, state.image)
    unclipped = optax.apply_updates(state.image, updates)
    image = jnp.clip(unclipped, 0.0, 1.0)
    if config.optimizer == "lbfgs":
      cached = (optax.tree_utils.tree_get(opt_state, "value"), optax.tree_utils.tree_get(opt_state, "grad"))
      value, grad = jax.lax.cond(jnp.all(image == unclipped), lambda: cached,
                                 lambda: value_and_grad(image, targets, weights))
    else:
      value, grad = value_and_grad(image, targets, weights)
    return OptimizationState(image, opt_state, value, grad), state.value

  return jax.lax.scan(step, state, None, length=num_steps)


def resize(images: jnp.ndarray, height: int, width: int) -> jnp.ndarray:
  """Antialiased bilinear resize of ``[..., H, W, 3]`` images, clipped to [0, 1]."""
  shape = images.shape[:-3] + (height, width, images.shape[-1])
  return jnp.clip(jax.image.resize(images, shape, "linear", antialias=True), 0.0, 1.0)


def luminance(images: jnp.ndarray) -> jnp.ndarray:
  """YIQ luminance ``[..., H, W, 3] -> [..., H, W, 1]``."""
  return jnp.einsum("...c,c->...", images, jnp.asarray(RGB_TO_YIQ[0]))[..., None]


def luminance_only(content: jnp.ndarray, style: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Grey RGB versions of the pair, the style's luminance matched to the content's mean and deviation.

  ``[..., H, W, 3]`` each; statistics are per image (over H, W).
  """
  y_content, y_style = luminance(content), luminance(style)
  mean_c, std_c = jnp.mean(y_content, (-3, -2, -1), keepdims=True), jnp.std(y_content, (-3, -2, -1), keepdims=True)
  mean_s, std_s = jnp.mean(y_style, (-3, -2, -1), keepdims=True), jnp.std(y_style, (-3, -2, -1), keepdims=True)
  y_style = (y_style - mean_s) * (std_c / jnp.maximum(std_s, 1e-6)) + mean_c
  grey = lambda y: jnp.clip(jnp.repeat(y, 3, axis=-1), 0.0, 1.0)
  return grey(y_content), grey(y_style)


def restore_color(result: jnp.ndarray, content: jnp.ndarray) -> jnp.ndarray:
  """The result's luminance with the content's I and Q chroma, back in RGB and clipped to [0, 1]."""
  yiq = jnp.einsum("...c,dc->...d", content, jnp.asarray(RGB_TO_YIQ))
  yiq = jnp.concatenate([luminance(result), yiq[..., 1:]], axis=-1)
  return jnp.clip(jnp.einsum("...c,dc->...d", yiq, jnp.asarray(YIQ_TO_RGB)), 0.0, 1.0)


def _check_images(images: Any, name: str, ndim: int) -> jnp.ndarray:
  images = jnp.asarray(images)
  if images.ndim != ndim or images.shape[-1] != 3:
    expected = "[H, W, 3]" if ndim == 3 else "[N, H, W, 3]"
    raise ValueError(f"{name} must be an RGB image {expected}; got shape {tuple(images.shape)}")
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(f"{name} must be float in [0, 1]; got dtype {images.dtype}")
  if not bool(jnp.all(jnp.isfinite(images))) or float(images.min()) < 0 or float(images.max()) > 1:
    raise ValueError(f"{name} must have finite values in [0, 1]; got range "
                     f"[{float(images.min())}, {float(images.max())}]")
  return jnp.asarray(images, jnp.float32)


class StyleResult(NamedTuple):
  image: np.ndarray  # [H, W, 3] (or [N, H, W, 3] for a batch), float32 in [0, 1]
  losses: np.ndarray  # [steps] (or [N, steps]): the total loss before each step
  frames: list  # images after each chunk, as ``image``


@functools.lru_cache(maxsize=None)
def compiled_functions(config: StyleConfig, num_steps: int, batched: bool = False):
  """Jitted ``(targets, init, chunk)`` functions of ``(extractor, ...)``; the extractor is an argument, so its
  parameters are not baked into the programs as constants."""
  def targets_fn(extractor, content, style):
    return compute_targets(extractor, content, style, config)

  def init_fn(extractor, image, targets, weights):
    return init_state(extractor, config, image, targets, weights)

  def chunk_fn(extractor, state, targets, weights):
    return optimize_chunk(extractor, config, state, targets, weights, num_steps)

  if batched:
    targets_fn = jax.vmap(targets_fn, in_axes=(None, 0, 0))
    init_fn = jax.vmap(init_fn, in_axes=(None, 0, 0, 0))
    chunk_fn = jax.vmap(chunk_fn, in_axes=(None, 0, 0, 0))
  return compilation.jit(targets_fn), compilation.jit(init_fn), compilation.jit(chunk_fn)


def _optimize(extractor, content, style, config, steps, chunk_size, weights, rng, batched, callback):
  """Shared driver: ``content [P, 1, H, W, 3]`` and ``style [P, 1, Hs, Ws, 3]`` with P problems (P = 1 and
  no vmap when not ``batched``)."""
  if steps < len(config.scales) or chunk_size < 1:
    raise ValueError(f"need at least one step per scale ({len(config.scales)}) and a positive chunk_size; got "
                     f"steps={steps}, chunk_size={chunk_size}")
  original_content = content
  if config.preserve_color:
    content, style = luminance_only(content, style)
  scale_steps = [steps // len(config.scales)] * len(config.scales)
  scale_steps[-1] += steps - sum(scale_steps)
  height, width = content.shape[-3:-1]
  s_height, s_width = style.shape[-3:-1]
  image, losses, frames, done = None, [], [], 0

  def finish(x):  # Frames at every scale are shown at full size, in color.
    x = resize(x, height, width) if x.shape[-3:-1] != (height, width) else x
    return restore_color(x, original_content) if config.preserve_color else x

  for scale, num_steps in zip(config.scales, scale_steps):
    size = lambda h, w: (max(32, round(h * scale)), max(32, round(w * scale)))
    h, w = size(height, width)
    scaled_content = resize(content, h, w)
    scaled_style = resize(style, *size(s_height, s_width))
    if image is not None:
      image = resize(image, h, w)
    elif config.init == "content":
      image = scaled_content
    elif config.init == "style":
      image = resize(style, h, w)
    else:
      image = jax.random.uniform(rng, scaled_content.shape, jnp.float32)
    targets_fn, init_fn, _ = compiled_functions(config, 1, batched)
    targets = targets_fn(extractor, scaled_content, scaled_style)
    state = init_fn(extractor, image, targets, weights)
    remaining = num_steps
    while remaining > 0:
      n = min(chunk_size, remaining)
      state, chunk_losses = compiled_functions(config, n, batched)[2](extractor, state, targets, weights)
      losses.append(np.asarray(chunk_losses))
      remaining -= n
      done += n
      frames.append(np.asarray(finish(state.image)))
      if callback is not None:
        callback(done, frames[-1], losses[-1])
    image = state.image
  axis = 1 if batched else 0
  return StyleResult(np.asarray(finish(image)), np.concatenate(losses, axis=axis), frames)


def _merge_weights(config: StyleConfig, weights: Optional[Mapping[str, Any]]) -> dict[str, jnp.ndarray]:
  merged = dict(config.loss_weights())
  for name, value in (weights or {}).items():
    if name not in merged:
      raise KeyError(f"unknown loss weight {name!r}; known: {', '.join(merged)}")
    merged[name] = value
  for name, value in merged.items():
    merged[name] = jnp.asarray(value, jnp.float32)
    if not bool(jnp.all(jnp.isfinite(merged[name]))) or bool(jnp.any(merged[name] < 0)):
      raise ValueError(f"loss weight {name!r} must be finite and non-negative; got {value}")
  return merged


def stylize(extractor: FeatureExtractor, content: Any, style: Any, config: StyleConfig = StyleConfig(), *,
            weights: Optional[Mapping[str, float]] = None, steps: int = 300, chunk_size: int = 25,
            rng: Optional[jax.Array] = None,
            callback: Optional[Callable[[int, np.ndarray, np.ndarray], None]] = None) -> StyleResult:
  """Optimizes one image: ``content [H, W, 3]`` and ``style [Hs, Ws, 3]`` float RGB in [0, 1].

  ``weights`` overrides the config's ``content``/``style``/``tv`` loss weights (traced values: changing them
  does not recompile).

  Returns ``StyleResult(image [H, W, 3], losses [steps], frames)``; ``callback(steps_done, image,
  chunk_losses)`` runs on the host after each compiled chunk of ``chunk_size`` steps.
  """
  content = _check_images(content, "content", 3)[None]
  style = _check_images(style, "style", 3)[None]
  weights = _merge_weights(config, weights)
  for name, value in weights.items():
    if value.shape != ():
      raise ValueError(f"loss weight {name!r} must be a scalar for stylize; got shape {tuple(value.shape)}")
  rng = jax.random.key(0) if rng is None else rng
  result = _optimize(extractor, content, style, config, steps, chunk_size, weights, rng, False, callback)
  return StyleResult(result.image[0], result.losses, [f[0] for f in result.frames])


def stylize_batch(extractor: FeatureExtractor, contents: Any, styles: Any, config: StyleConfig = StyleConfig(),
                  *, weights: Optional[Mapping[str, Any]] = None, steps: int = 300, chunk_size: int = 25,
                  rng: Optional[jax.Array] = None,
                  callback: Optional[Callable[[int, np.ndarray, np.ndarray], None]] = None) -> StyleResult:
  """N independent problems in one compiled call: ``contents [N, H, W, 3]``, ``styles [N, Hs, Ws, 3]``.

  ``weights`` maps ``content``/``style``/``tv`` to a scalar or ``[N]`` (missing: the config's value), e.g. one
  pair under N style weights. Each problem has its own optimizer state and line search, so the results
  equal N ``stylize`` calls. Returns ``StyleResult(image [N, H, W, 3], losses [N, steps], frames)``.
  """
  contents = _check_images(contents, "contents", 4)
  styles = _check_images(styles, "styles", 4)
  count = contents.shape[0]
  if styles.shape[0] != count:
    raise ValueError(f"{count} contents but {styles.shape[0]} styles")
  batched_weights = {}
  for name, value in _merge_weights(config, weights).items():
    if value.shape not in ((), (count,)):
      raise ValueError(f"loss weight {name!r} must be a scalar or [{count}]; got shape {tuple(value.shape)}")
    batched_weights[name] = jnp.broadcast_to(value, (count,))
  rng = jax.random.key(0) if rng is None else rng
  result = _optimize(extractor, contents[:, None], styles[:, None], config, steps, chunk_size, batched_weights,
                     rng, True, callback)
  return StyleResult(result.image[:, 0], result.losses, [f[:, 0] for f in result.frames])


# ---------------------------------------------------------------------------------------------------------
# Command line.


def load_image(spec: str, size: Optional[int] = None) -> np.ndarray:
  """``skimage:NAME`` (``skimage.data.NAME()``) or an image file -> float32 RGB ``[H, W, 3]`` in [0, 1], its
  longer side resized to ``size``."""
  from PIL import Image  # pylint: disable=import-outside-toplevel
  if spec.startswith("skimage:"):
    import skimage.data  # pylint: disable=import-outside-toplevel
    name = spec.removeprefix("skimage:")
    if not hasattr(skimage.data, name):
      raise ValueError(f"unknown scikit-image sample {name!r} (try astronaut, brick, coffee, chelsea, rocket)")
    array = np.asarray(getattr(skimage.data, name)())
  else:
    if not os.path.exists(spec):
      raise FileNotFoundError(f"image not found: {spec}")
    array = np.asarray(Image.open(spec).convert("RGB"))
  if array.dtype != np.uint8:
    raise ValueError(f"{spec}: expected an 8-bit image; got dtype {array.dtype}")
  if array.ndim == 2:
    array = np.repeat(array[..., None], 3, axis=-1)
  array = array[..., :3]
  if size is not None:
    if size < 32:
      raise ValueError(f"--size must be at least 32 (VGG-19's smallest input); got {size}")
    height, width = array.shape[:2]
    factor = size / max(height, width)
    new = (max(32, round(width * factor)), max(32, round(height * factor)))
    array = np.asarray(Image.fromarray(array).resize(new, Image.Resampling.LANCZOS))
  return array.astype(np.float32) / 255.0


def save_loss_curve(path: str, losses: np.ndarray, width: int = 640, height: int = 400) -> str:
  """A PNG of ``log10(loss)`` against the step, drawn with PIL (no plotting dependency)."""
  from PIL import Image, ImageDraw  # pylint: disable=import-outside-toplevel
  values = np.log10(np.maximum(np.asarray(losses, np.float64), 1e-30))
  canvas = Image.new("RGB", (width, height), "white")
  draw = ImageDraw.Draw(canvas)
  left, right, top, bottom = 70, width - 20, 20, height - 40
  draw.rectangle([left, top, right, bottom], outline="black")
  low, high = float(values.min()), float(values.max())
  high = high if high > low else low + 1.0
  xs = left + (right - left) * np.arange(len(values)) / max(len(values) - 1, 1)
  ys = bottom - (bottom - top) * (values - low) / (high - low)
  draw.line(list(zip(xs.tolist(), ys.tolist())), fill=(200, 30, 30), width=2)
  draw.text((5, top), f"1e{high:.2f}", fill="black")
  draw.text((5, bottom - 10), f"1e{low:.2f}", fill="black")
  draw.text((left, bottom + 8), "step 0", fill="black")
  draw.text((right - 60, bottom + 8), f"step {len(values)}", fill="black")
  draw.text((width // 2 - 40, bottom + 22), "total loss (log10)", fill="black")
  canvas.save(path)
  return path


def save_gif(path: str, frames: Sequence[np.ndarray], duration_ms: int = 200) -> str:
  from PIL import Image  # pylint: disable=import-outside-toplevel
  pictures = [Image.fromarray((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)) for f in frames]
  pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
  return path


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--content", required=True, help="image file or skimage:NAME (e.g. skimage:astronaut)")
  parser.add_argument("--style", required=True, help="image file or skimage:NAME (e.g. skimage:brick)")
  parser.add_argument("--weights", default=None,
                      help="VGG-19 weights: Keras .h5/.keras or torchvision .npz/.safetensors/.pth; "
                           "omitted: random weights (the mechanism only)")
  parser.add_argument("--size", type=int, default=512, help="longer side of the output, pixels")
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--chunk", type=int, default=10, help="steps per compiled call (and per GIF frame)")
  parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
  parser.add_argument("--learning-rate", type=float, default=0.02, help="Adam's step size")
  parser.add_argument("--content-weight", type=float, default=1.0)
  parser.add_argument("--style-weight", type=float, default=1e6)
  parser.add_argument("--tv-weight", type=float, default=0.0)
  parser.add_argument("--style-layer-weights", type=float, nargs=5, default=None,
                      help="w_l for conv1_1 .. conv5_1")
  parser.add_argument("--gram-normalization", choices=style_losses.GRAM_NORMALIZATIONS, default="all")
  parser.add_argument("--init", choices=INITS, default="content")
  parser.add_argument("--preserve-color", action="store_true", help="luminance-only transfer")
  parser.add_argument("--scales", type=float, nargs="+", default=[1.0],
                      help="coarse-to-fine scales, e.g. 0.25 0.5 1 (steps are split between them)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="out.png")
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel
  from jvision import viz  # pylint: disable=import-outside-toplevel
  config = StyleConfig(
      style_layer_weights=None if args.style_layer_weights is None else tuple(args.style_layer_weights),
      content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
      gram_normalization=args.gram_normalization, optimizer=args.optimizer, learning_rate=args.learning_rate,
      init=args.init, preserve_color=args.preserve_color, scales=tuple(args.scales))
  if args.weights is None:
    print(f"WARNING: {RANDOM_WEIGHTS_WARNING}", file=sys.stderr)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore" if args.weights is None else "default")
    extractor = load_vgg19(args.weights, jax.random.key(args.seed))
  content = load_image(args.content, args.size)
  style = load_image(args.style, args.size)
  bar = tqdm(total=args.steps, unit="step", desc=f"{args.optimizer} {content.shape[1]}x{content.shape[0]}")
  done_before = [0]

  def progress(done, _, chunk_losses):
    bar.update(done - done_before[0])
    done_before[0] = done
    bar.set_postfix(loss=f"{float(chunk_losses[-1]):.4g}")

  start = time.perf_counter()
  result = stylize(extractor, content, style, config, steps=args.steps, chunk_size=args.chunk,
                   rng=jax.random.key(args.seed), callback=progress)
  bar.close()
  seconds = time.perf_counter() - start
  stem, _ = os.path.splitext(args.out)
  viz.save_png(args.out, viz.to_uint8(result.image))
  save_loss_curve(f"{stem}_loss.png", result.losses)
  size = result.image.shape[:2]
  save_gif(f"{stem}.gif", [np.asarray(resize(jnp.asarray(content), *size))] + result.frames)
  print(f"loss {result.losses[0]:.4g} -> {result.losses[-1]:.4g} in {args.steps} steps, {seconds:.1f} s; "
        f"wrote {args.out}, {stem}_loss.png, {stem}.gif")
  if not math.isfinite(float(result.losses[-1])):
    print("the loss is not finite: lower --learning-rate or the loss weights", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
