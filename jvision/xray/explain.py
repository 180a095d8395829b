r"""Explaining a chest X-ray classifier: Latent Shift counterfactuals, gradient saliency, integrated gradients.

    python -m jvision.xray.explain --classifier_workdir runs/xray_cnn_evidence \
        --autoencoder_workdir runs/xray_autoencoder --image synthetic:12 --pathology Mass --out explain.gif

Latent Shift (Cohen et al., "Gifsplanation via Latent Shift: A Simple Autoencoder Approach to Counterfactual
Generation for Chest X-rays", MIDL 2021): with an autoencoder (E, D) and the classifier's probability f_p for
pathology p, encode z = E(x) and move the latent along the classifier's gradient, z + lambda * df_p(D(z))/dz.
Negative lambda removes what makes f_p high. lambda is searched on a grid towards the negative side until
f_p(D(z + lambda g)) has dropped by ``target_drop``, stops dropping, or the decoded image has changed by more
than ``max_image_change``; the frames D(z + lambda g) for lambda from 0 to that value are the counterfactual
walk (a GIF), and |D(z + lambda g) - D(z)| is the heat map of what changed. Comparing with D(z) rather than x
leaves the autoencoder's reconstruction error out of the heat map (Section 2 of the paper). Here g is scaled
to the norm of z, so lambda = -1 is a shift as large as the latent itself, and it is the gradient of the
log-odds logit(f_p), the same direction as that of f_p but not rounded to zero when a confident float32
classifier outputs exactly 1.0.

For comparison, ``gradient_saliency`` (|df_p/dx|) and ``integrated_gradients`` (Sundararajan et al., "Axiomatic
Attribution for Deep Networks", ICML 2017; trapezoid rule along the straight path from a baseline), whose
attributions sum to f_p(x) - f_p(baseline) up to the quadrature error that ``IntegratedGradients.gap`` reports.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jvision import compilation
from jvision.xray import preprocess

# images [B, H, W, 1] -> [B]: P(pathology), or its log-odds for latent_shift.
ScoreFn = Callable[[jnp.ndarray], jnp.ndarray]
STOP_REASONS = ("target_drop", "stopped_dropping", "image_change", "max_lambda")


@dataclasses.dataclass
class LatentShiftResult:
  """A counterfactual walk.

  Attributes:
    lambdas: [F] the frames' shifts, from 0 to ``lambda_stop`` (<= 0).
    frames: [F, H, W, 1] decoded images D(z + lambda g) (XRV range); ``frames[0]`` is the reconstruction.
    scores: [F] f_p of each frame (a probability).
    heatmap: [H, W] |frames[-1] - frames[0]|, what the counterfactual changed.
    search_lambdas / search_logits / search_changes: [K + 1] the searched grid (from 0), logit(f_p) there
      and the mean absolute image change as a fraction of the XRV range (2048).
    stop_reason: one of ``STOP_REASONS``.
  """
  lambdas: np.ndarray
  frames: np.ndarray
  scores: np.ndarray
  heatmap: np.ndarray
  search_lambdas: np.ndarray
  search_logits: np.ndarray
  search_changes: np.ndarray
  stop_reason: str

  @property
  def lambda_stop(self) -> float:
    return float(self.lambdas[-1])


def latent_shift_direction(logit_fn: ScoreFn, decode_fn: Callable, latent: jnp.ndarray,
                           normalize: bool = True) -> jnp.ndarray:
  """d logit(f_p(D(z))) / dz for one latent [1, ...] (same shape), scaled to the norm of z if ``normalize``."""
  grad = jax.grad(lambda z: jnp.sum(logit_fn(decode_fn(z))))(latent)
  if not normalize:
    return grad
  return grad * jnp.linalg.norm(latent) / jnp.maximum(jnp.linalg.norm(grad), 1e-12)


def choose_stop(logits: np.ndarray, changes: np.ndarray, target_drop: float,
                max_image_change: float) -> tuple[int, str]:
  """The index into a search grid (log-odds [K + 1] from lambda = 0 outwards) where the search stops, and why.

  Stops at the first k where the probability sigmoid(logit) is ``target_drop`` below that at k = 0 (k
  itself), where the logit no longer drops (k - 1), or where the image change exceeds ``max_image_change``
  (k - 1); else at the last index.
  """
  logits = np.asarray(logits, np.float64)
  probabilities = 1.0 / (1.0 + np.exp(-logits))
  for k in range(1, len(logits)):
    if changes[k] > max_image_change:
      return k - 1, "image_change"
    if logits[k] >= logits[k - 1]:
      return k - 1, "stopped_dropping"
    if probabilities[0] - probabilities[k] >= target_drop:
      return k, "target_drop"
  return len(logits) - 1, "max_lambda"


def latent_shift(logit_fn: ScoreFn, encode_fn: Callable, decode_fn: Callable, image: jnp.ndarray, *,
                 max_lambda: float = 1.0, search_steps: int = 40, target_drop: float = 0.6,
                 max_image_change: float = 0.05, num_frames: int = 10,
                 normalize: bool = True) -> LatentShiftResult:
  """The Latent Shift counterfactual walk of ``image`` [H, W, 1] or [1, H, W, 1] (XRV range).

  Args:
    logit_fn: images [B, H, W, 1] -> the log-odds of pathology p [B] (f_p = sigmoid of it).
    encode_fn / decode_fn: the autoencoder, images [B, H, W, 1] <-> latents [B, ...].
    max_lambda: the search covers lambda in [-max_lambda, 0] in ``search_steps`` equal steps.
    target_drop / max_image_change: stopping rules of the search (``choose_stop``); the image change is the
      mean |D(z + lambda g) - D(z)| as a fraction of the XRV range (2048).
    num_frames: frames of the walk, lambda evenly spaced from 0 to the stopping lambda.
  """
  image = jnp.asarray(image, jnp.float32)
  image = image[None] if image.ndim == 3 else image
  if image.ndim != 4 or image.shape[0] != 1:
    raise ValueError(f"latent_shift explains one image [H, W, 1] or [1, H, W, 1]; got shape {image.shape}")
  if search_steps < 1 or num_frames < 2:
    raise ValueError(f"need search_steps >= 1 and num_frames >= 2; got {search_steps}, {num_frames}")
  latent = encode_fn(image)
  direction = latent_shift_direction(logit_fn, decode_fn, latent, normalize)

  def decode_shifted(lambdas):
    shifted = latent + jnp.asarray(lambdas, jnp.float32).reshape((-1,) + (1,) * (latent.ndim - 1)) * direction
    frames = decode_fn(shifted)
    return frames, logit_fn(frames)

  search_lambdas = np.linspace(0.0, -max_lambda, search_steps + 1, dtype=np.float32)
  frames, logits = jax.device_get(decode_shifted(search_lambdas))
  changes = np.mean(np.abs(frames - frames[:1]), axis=(1, 2, 3)) / (2 * preprocess.XRV_RANGE)
  stop, reason = choose_stop(logits, changes, target_drop, max_image_change)
  lambdas = np.linspace(0.0, search_lambdas[stop], num_frames, dtype=np.float32)
  walk, walk_logits = jax.device_get(decode_shifted(lambdas))
  return LatentShiftResult(
      lambdas=lambdas, frames=np.asarray(walk), scores=np.asarray(jax.nn.sigmoid(walk_logits)),
      heatmap=np.abs(walk[-1, ..., 0] - walk[0, ..., 0]), search_lambdas=search_lambdas,
      search_logits=np.asarray(logits), search_changes=changes, stop_reason=reason)


def gradient(score_fn: ScoreFn, image: jnp.ndarray) -> np.ndarray:
  """d f_p / d x [H, W, C] for one image [H, W, C] (signed)."""
  return np.asarray(jax.grad(lambda x: jnp.sum(score_fn(x[None])))(jnp.asarray(image, jnp.float32)))


def gradient_saliency(score_fn: ScoreFn, image: jnp.ndarray) -> np.ndarray:
  """|d f_p / d x| [H, W] (maximum over channels) for one image [H, W, C]."""
  return np.max(np.abs(gradient(score_fn, image)), axis=-1)


@dataclasses.dataclass
class IntegratedGradients:
  """``attributions`` [H, W, C]; ``gap`` = sum(attributions) - (f(x) - f(baseline)), the completeness error."""
  attributions: np.ndarray
  score: float
  baseline_score: float
  gap: float


def integrated_gradients(score_fn: ScoreFn, image: jnp.ndarray, baseline: Optional[jnp.ndarray] = None,
                         steps: int = 64, batch_size: int = 32) -> IntegratedGradients:
  """Integrated gradients of f_p at ``image`` [H, W, C] from ``baseline`` (default: all -1024, black).

  (x - b) * integral_0^1 df/dx(b + a (x - b)) da, the integral by the trapezoid rule on ``steps`` + 1 points.
  """
  image = jnp.asarray(image, jnp.float32)
  baseline = jnp.full_like(image, -preprocess.XRV_RANGE) if baseline is None else jnp.asarray(baseline,
                                                                                             jnp.float32)
  if baseline.shape != image.shape:
    raise ValueError(f"baseline shape {baseline.shape} differs from image shape {image.shape}")
  if steps < 1:
    raise ValueError(f"steps must be >= 1; got {steps}")
  alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
  weights = np.full(steps + 1, 1.0 / steps, np.float32)
  weights[[0, -1]] *= 0.5
  grad_fn = compilation.jit(jax.vmap(jax.grad(lambda x: jnp.sum(score_fn(x[None])))))
  total = jnp.zeros_like(image)
  for start in range(0, steps + 1, batch_size):
    a = jnp.asarray(alphas[start:start + batch_size])[:, None, None, None]
    grads = grad_fn(baseline[None] + a * (image - baseline)[None])
    total = total + jnp.tensordot(jnp.asarray(weights[start:start + batch_size]), grads, axes=1)
  attributions = np.asarray((image - baseline) * total)
  score, baseline_score = (float(s) for s in jax.device_get(score_fn(jnp.stack([image, baseline]))))
  gap = float(np.sum(attributions, dtype=np.float64) - (score - baseline_score))
  return IntegratedGradients(attributions, score, baseline_score, gap)


# Pictures.


def grey_uint8(image: np.ndarray) -> np.ndarray:
  """XRV-range image [H, W] or [H, W, 1] -> uint8 [H, W]."""
  image = np.asarray(image, np.float32).reshape(np.shape(image)[:2])
  return np.round(np.clip((image + preprocess.XRV_RANGE) / (2 * preprocess.XRV_RANGE), 0, 1) * 255).astype(
      np.uint8)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
  """A grey XRV image [H, W(, 1)] with ``heat`` [H, W] (>= 0, scaled to its maximum) in red: uint8 [H, W, 3]."""
  grey = grey_uint8(image).astype(np.float32)[..., None].repeat(3, axis=-1)
  heat = np.asarray(heat, np.float32)
  heat = heat / heat.max() if heat.max() > 0 else heat
  red = np.stack([np.full_like(heat, 255.0), 64 * (1 - heat), np.zeros_like(heat)], axis=-1)
  weight = alpha * heat[..., None]
  return np.round((1 - weight) * grey + weight * red).astype(np.uint8)


def walk_pictures(result: LatentShiftResult, image: np.ndarray, scale: int = 4) -> list[np.ndarray]:
  """One uint8 picture [scale * (H + 4), scale * 2W, 3] per frame: the input beside the frame, with a bar
  under the frame as long as its score; frames go to the counterfactual and back (a ping-pong loop)."""
  height, width = result.frames.shape[1:3]
  left = grey_uint8(image)[..., None].repeat(3, axis=-1)
  pictures = []
  order = list(range(len(result.frames))) + list(range(len(result.frames) - 2, 0, -1))
  for i in order:
    canvas = np.zeros((height + 4, 2 * width, 3), np.uint8)
    canvas[:height, :width] = left
    canvas[:height, width:] = grey_uint8(result.frames[i])[..., None]
    bar = int(round(float(np.clip(result.scores[i], 0, 1)) * width))
    canvas[height + 1:height + 3, width:width + bar] = (255, 80, 0)
    pictures.append(np.kron(canvas, np.ones((scale, scale, 1), np.uint8)))
  return pictures


def save_gif(path: str, pictures: list[np.ndarray], seconds_per_frame: float = 0.15) -> str:
  """Writes uint8 pictures [H, W, 3] as a looping GIF (Pillow) and returns ``path``."""
  from PIL import Image

  if not pictures:
    raise ValueError("save_gif needs at least one picture")
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  frames = [Image.fromarray(np.asarray(p, np.uint8)) for p in pictures]
  frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:],
                 duration=int(1000 * seconds_per_frame), loop=0)
  return path


# Trained runs.


def classifier_fns(run, pathology: str) -> tuple[ScoreFn, ScoreFn]:
  """(log-odds, probability) of ``pathology``, images [B, H, W, 1] -> [B], from a restored multi-label run
  (``jvision.restore``)."""
  pathologies = tuple(run.config.task.pathologies)
  if pathology not in pathologies:
    raise KeyError(f"unknown pathology {pathology!r}; the classifier has: {', '.join(pathologies)}")
  index = pathologies.index(pathology)
  variables = jax.tree.map(jnp.asarray, run.variables)
  probability = lambda images: run.task.scores(run.model.apply(variables, images, train=False))[:, index]
  if run.task.uncertainty_policy != "multiclass":  # One sigmoid per pathology: its logit is the log-odds.
    return (lambda images: run.model.apply(variables, images, train=False)[:, index].astype(jnp.float32),
            probability)

  def log_odds(images):
    p = jnp.clip(probability(images), 1e-7, 1 - 1e-7)
    return jnp.log(p) - jnp.log1p(-p)

  return log_odds, probability


def autoencoder_fns(run) -> tuple[Callable, Callable]:
  """(encode, decode) of a restored ``xray_autoencoder`` run."""
  variables = jax.tree.map(jnp.asarray, run.variables)
  return (lambda x: run.model.apply(variables, x, method=run.model.encode),
          lambda z: run.model.apply(variables, z, method=run.model.decode))


def load_image(spec: str, classifier_run, image_size: int) -> np.ndarray:
  """``synthetic:INDEX`` (the classifier's eval split) or an image file -> XRV image [S, S, 1]."""
  if spec.startswith("synthetic:"):
    from jvision import data

    config = classifier_run.config
    source = data.data_source(config.data.name, config.data.eval_split, config.data.get("data_dir") or None)
    example = source[int(spec.split(":", 1)[1])]
    image = preprocess.xrv_normalize(np.asarray(example["image"]), 255.0)
  else:
    from PIL import Image

    with Image.open(spec) as picture:
      array = np.asarray(picture)
    max_value = 65535.0 if array.dtype == np.uint16 else 255.0
    image = preprocess.xrv_normalize(array, max_value)
  if image.shape[0] != image_size or image.shape[1] != image_size:
    image = preprocess.resize(preprocess.center_crop(image), image_size)
  return image


def explain_image(classifier_run, autoencoder_run, image: np.ndarray, pathology: str, out: str,
                  **latent_shift_kwargs) -> dict:
  """Writes ``out`` (the GIF) and ``<out stem>_{heatmap,saliency,integrated_gradients}.png``; returns a
  summary (scores, stopping lambda and reason, IG completeness gap, paths)."""
  from jvision import viz

  logit_fn, score_fn = (compilation.jit(f) for f in classifier_fns(classifier_run, pathology))
  encode, decode = autoencoder_fns(autoencoder_run)
  result = latent_shift(logit_fn, compilation.jit(encode), compilation.jit(decode), image, **latent_shift_kwargs)
  saliency = gradient_saliency(score_fn, image)
  ig = integrated_gradients(score_fn, image)
  stem = os.path.splitext(out)[0]
  paths = {"gif": save_gif(out, walk_pictures(result, image)),
           "heatmap": viz.save_png(f"{stem}_heatmap.png", heat_overlay(image, result.heatmap)),
           "saliency": viz.save_png(f"{stem}_saliency.png", heat_overlay(image, saliency)),
           "integrated_gradients": viz.save_png(f"{stem}_integrated_gradients.png",
                                                heat_overlay(image, np.abs(ig.attributions[..., 0])))}
  return {"pathology": pathology, "score": float(score_fn(jnp.asarray(image)[None])[0]),
          "reconstruction_score": float(result.scores[0]), "counterfactual_score": float(result.scores[-1]),
          "lambda": result.lambda_stop, "stop_reason": result.stop_reason,
          "ig_sum": float(ig.attributions.sum()), "ig_score_difference": ig.score - ig.baseline_score,
          "ig_gap": ig.gap, **paths}


def main(argv: Optional[list[str]] = None) -> None:
  from jvision import restore

  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--classifier_workdir", required=True, help="a multilabel run, e.g. experiments/xray_cnn.py")
  parser.add_argument("--autoencoder_workdir", required=True, help="a run of experiments/xray_autoencoder.py")
  parser.add_argument("--image", required=True, help="an image file, or synthetic:INDEX (the eval split)")
  parser.add_argument("--pathology", required=True)
  parser.add_argument("--out", default="explain.gif")
  parser.add_argument("--image_size", type=int, default=64, help="the size both models were trained at")
  parser.add_argument("--max_lambda", type=float, default=1.0)
  parser.add_argument("--search_steps", type=int, default=40)
  parser.add_argument("--target_drop", type=float, default=0.6)
  parser.add_argument("--max_image_change", type=float, default=0.05)
  parser.add_argument("--num_frames", type=int, default=10)
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  classifier_run = restore.load_run(args.classifier_workdir)
  autoencoder_run = restore.load_run(args.autoencoder_workdir)
  image = load_image(args.image, classifier_run, args.image_size)
  summary = explain_image(classifier_run, autoencoder_run, image, args.pathology, args.out,
                          max_lambda=args.max_lambda, search_steps=args.search_steps,
                          target_drop=args.target_drop, max_image_change=args.max_image_change,
                          num_frames=args.num_frames)
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  main()
