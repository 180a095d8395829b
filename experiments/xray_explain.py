r"""Does a Latent Shift counterfactual remove the planted finding? Measured on the embedded synthetic X-rays.

    python -m jvision.train --config experiments/xray_cnn_evidence.py --workdir runs/xray_cnn_evidence
    python -m jvision.train --config experiments/xray_autoencoder.py --workdir runs/xray_autoencoder
    PYTHONPATH=. python experiments/xray_explain.py --classifier_workdir runs/xray_cnn_evidence \
        --autoencoder_workdir runs/xray_autoencoder --pathology Mass --num_images 30

(any multi-label classifier run works, e.g. ``experiments/xray_cnn.py``'s or ``xray_cnn_class_map.py``'s; the
one trained to look at the findings is the one whose evidence is known, so it tests the explanation)

For the first ``num_images`` test images that have the finding (ground truth), runs
``jvision.xray.explain.latent_shift`` and prints, averaged over the images:

- the classifier's P(pathology) on the image, its reconstruction D(E(x)) and the counterfactual, and the
  fraction of images where the counterfactual scores lower than the reconstruction;
- where the change is, against the planted finding's mask (``finding_masks``): the share of the total
  absolute change |D(z + lambda g) - D(z)| that falls inside the mask (and the fraction of images where that
  share is over one half: ``_mostly_inside``), and the precision of the k most
  changed pixels (k = the mask's area); the mask's share of the image is what a map that ignored the finding
  would score on both. The same two numbers for gradient saliency and |integrated gradients|, and the shares
  within ``--near_pixels`` of the mask;
- the classifier's P(pathology) on the images blurred by ``--blur_sigmas`` (its reliance on fine detail, which
  the autoencoder smooths away), and the autoencoder's own limit: the share inside the mask of the ideal
  change (the mask itself) after a round trip through the latent (``autoencoder_ideal_share_in_mask``);
- which way the counterfactual moved the pixels: the mean signed change inside the mask and in the bands
  within ``--near_pixels`` outside it (fractions of the XRV range);
- with the baselines, the classifier's offset balance: the sum of its gradient df/dx over the mask and the
  ``OFFSET_PIXELS`` around it, over the sum of |df/dx| there. Near 0, the classifier does not see a uniform
  brightening of the neighbourhood, only contrast inside it; a first-order explanation can then lower the
  score as well by brightening the surroundings as by darkening the finding.

Writes ``<out_dir>/example_<i>.gif`` (and the heat map PNGs) for the first three images.

Measured (Mass, 30 images, ``xray_cnn.py`` at 400 steps, the earlier 8x8x16 GroupNorm autoencoder at 1,000
steps, ``--config.model.features="(16,32,64)" --config.model.norm=group``; 253 s on a shared 2-core CPU): P(Mass)
0.959 on the images, 0.361 on the reconstructions, 0.042 on the counterfactuals (lowered on 30 of 30);
share of the change in the mask 0.115 and top-k precision 0.373 (chance 0.023), gradient saliency 0.050 /
0.129, integrated gradients 0.089 / 0.272 (mean completeness gap 0.34 % of f(x) - f(baseline)).
With ``--heat_sigma 2`` (maps blurred before they are measured): Latent Shift 0.103 / 0.506. With the
DenseNet-121 of ``experiments/xray_densenet.py`` (``--no-baselines``): P(Mass) 0.969 / 0.694 / 0.107, share
0.162, top-k precision 0.356 (0.147 / 0.440 blurred). The change is NOT mostly inside the finding: most of it
is a faint change spread over the lung fields; the strongest changes are on the mass (top-k precision about
20x chance).

With ``experiments/xray_cnn_class_map.py``'s run (blur augmentation, class-score map) and the 16x16x16
per-pixel-norm autoencoder at 4,000 steps (``--config.model.features="(16,32)" --config.model.latent_features=16
--config.total_steps=4000 --config.eval_every_steps=2000``), idle CPU, 26 s: P(Mass) 0.923 on the images
(0.935 blurred by 1 px; the plain CNN: 0.972 and 0.439), 0.964 on the reconstructions, 0.573 on the
counterfactuals (lowered on 30 of 30); share of the change in the mask 0.247 (within 2 / 4 px of it: 0.408 /
0.542; chance 0.023 / 0.039 / 0.060), top-k precision 0.394; gradient saliency 0.314 (top-k 0.415),
integrated gradients 0.395 (0.524). The autoencoder's own limit (``autoencoder_ideal_share_in_mask``): 0.707
(0.552 with GroupNorm, ``--config.model.norm=group``). With the plain CNN the share is 0.094. Why: the
classifier's offset balance is -0.017, it sees the disc only by its contrast with its surroundings, and the
counterfactual darkens the mask (mean change -0.037 of the range) and brightens a ring around it (+0.028
within 2 px outside).

With the commands above (the classifier trained with the evidence penalty for 2,000 steps, the 32x32x4
autoencoder at 2,000 steps), 25 s: P(Mass) 0.930 / 0.971 / 0.311 (lowered on 30 of 30); share of the change
in the mask **0.543** (over one half in 19 of the 30 images; within 2 / 4 px: 0.723 / 0.832), top-k
precision 0.624; gradient saliency 0.645 (top-k 0.670), integrated gradients 0.661 (0.733); the
autoencoder's limit 0.834. The classifier's evidence is now on the finding (saliency 0.64 inside the mask,
from 0.31), but its offset balance is still 0.002: inside the mask it too weighs centre against rim, and the
autoencoder's smoothing of that two-signed pattern puts part of the change just outside the mask (mean
change -0.022 inside, +0.005 within 2 px outside). Other findings (``--pathology ... --no-baselines``):
Cardiomegaly **0.843** (over one half in 30 of 30 images), Consolidation 0.494 (17), Effusion 0.442 (16),
Nodule 0.141 (0; a 14-pixel mask; within 2 px 0.296; lowered on 25 of 30). With the classifier at 1,000
steps (``--config.total_steps=1000``): Mass 0.504, Cardiomegaly 0.811.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from jvision import data, restore, viz
from jvision.data import xray_synthetic
from jvision.xray import explain, preprocess


# The neighbourhood (pixels around the mask) over which gradient_offset_balance sums the classifier's gradient.
OFFSET_PIXELS = 8


def share_inside(heat: np.ndarray, region: np.ndarray) -> float:
  """Share of ``heat`` [H, W] (>= 0) inside boolean ``region`` (0 for an all-zero map)."""
  heat = np.asarray(heat, np.float64)
  return float(heat[region].sum() / max(heat.sum(), 1e-12))


def localization(heat: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
  """(share of ``heat`` [H, W] (>= 0) inside boolean ``mask``, precision of the mask-area top pixels)."""
  heat = np.asarray(heat, np.float64)
  share = share_inside(heat, mask)
  k = int(mask.sum())
  top = np.argsort(heat.ravel())[::-1][:k]
  return share, float(mask.ravel()[top].mean())


def autoencoder_roundtrip(encode, decode, image: jnp.ndarray, change: jnp.ndarray,
                          step: float = 0.05) -> jnp.ndarray:
  """|D(z - step |z| g / |g|) - D(z)| [H, W] for z = E(image) [H, W, 1] and g = d<D(z), change>/dz: a wanted
  image change ``change`` [1, H, W, 1] as the autoencoder's latent can express it (a Latent Shift whose
  classifier gradient is exactly ``change``)."""
  latent = encode(image[None])
  grad = jax.grad(lambda z: jnp.sum(decode(z) * change))(latent)
  shifted = latent - step * jnp.linalg.norm(latent) * grad / jnp.maximum(jnp.linalg.norm(grad), 1e-12)
  return jnp.abs(decode(shifted) - decode(latent))[0, ..., 0]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--classifier_workdir", required=True)
  parser.add_argument("--autoencoder_workdir", required=True)
  parser.add_argument("--pathology", default="Mass")
  parser.add_argument("--num_images", type=int, default=30)
  parser.add_argument("--target_drop", type=float, default=0.6)
  parser.add_argument("--max_image_change", type=float, default=0.05)
  parser.add_argument("--out_dir", default="runs/xray_explain")
  parser.add_argument("--heat_sigma", type=float, default=0.0,
                      help="Gaussian blur (pixels) of every heat map before it is measured, as Gifsplanation's "
                           "attribution code offers; 0: raw maps")
  parser.add_argument("--near_pixels", default="2,4",
                      help="also print the share of each map within this many pixels of the mask (comma-separated; "
                           "'' for none), with the dilated mask's share of the image (its chance level)")
  parser.add_argument("--blur_sigmas", default="1",
                      help="also print the classifier's mean P(pathology) on the images blurred by each of these "
                           "Gaussian sigmas (pixels, comma-separated; '' for none): how much it relies on the "
                           "finest detail, which an autoencoder's reconstruction smooths away")
  parser.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                      help="also measure gradient saliency and integrated gradients (slow for a DenseNet)")
  args = parser.parse_args()
  start = time.perf_counter()
  classifier_run = restore.load_run(args.classifier_workdir)
  autoencoder_run = restore.load_run(args.autoencoder_workdir)
  logit_fn, score_fn = (jax.jit(f) for f in explain.classifier_fns(classifier_run, args.pathology))
  encode, decode = (jax.jit(f) for f in explain.autoencoder_fns(autoencoder_run))
  config = classifier_run.config
  source = data.data_source(config.data.name, config.data.eval_split, config.data.get("data_dir") or None)
  k = xray_synthetic.PATHOLOGIES.index(args.pathology)
  near_pixels = [int(d) for d in args.near_pixels.split(",") if d.strip()]
  blur_sigmas = [float(s) for s in args.blur_sigmas.split(",") if s.strip()]

  ideal_roundtrip = jax.jit(lambda image, ideal: autoencoder_roundtrip(encode, decode, image, ideal))
  rows, reasons, used = collections.defaultdict(list), collections.Counter(), 0
  for i in range(len(source)):
    if used == args.num_images:
      break
    example = source[i]
    if example["true_labels"][k] != 1:
      continue
    mask = np.asarray(example["finding_masks"][..., k], bool)
    near = {d: ndimage.binary_dilation(mask, iterations=d) for d in near_pixels}
    image = preprocess.xrv_normalize(np.asarray(example["image"]), 255.0)
    result = explain.latent_shift(logit_fn, encode, decode, image, target_drop=args.target_drop,
                                  max_image_change=args.max_image_change)
    rows["score_image"].append(float(score_fn(jnp.asarray(image)[None])[0]))
    for sigma in blur_sigmas:
      blurred = preprocess.gaussian_blur(image, sigma)
      rows[f"score_image_blurred_{sigma:g}px"].append(float(score_fn(jnp.asarray(blurred)[None])[0]))
    rows["score_reconstruction"].append(float(result.scores[0]))
    rows["score_counterfactual"].append(float(result.scores[-1]))
    rows["lowered"].append(float(result.scores[-1] < result.scores[0]))
    rows["mask_area_fraction"].append(float(mask.mean()))
    for d, region in near.items():
      rows[f"within_{d}px_area_fraction"].append(float(region.mean()))
    heats = {"latent_shift": result.heatmap}
    # Signed: which way the counterfactual moved the pixels inside the mask and just outside it.
    change = (result.frames[-1, ..., 0] - result.frames[0, ..., 0]) / (2 * preprocess.XRV_RANGE)
    rows["latent_shift_mean_change_in_mask"].append(float(change[mask].mean()))
    for d, region in near.items():
      rows[f"latent_shift_mean_change_within_{d}px_outside_mask"].append(float(change[region & ~mask].mean()))
    # The autoencoder's own limit: the ideal change (the finding's mask, blurred like the image) sent through
    # the latent, z - 0.05 |z| g / |g| with g = d<D(z), mask>/dz, and decoded again.
    ideal = ndimage.gaussian_filter(mask.astype(np.float32), xray_synthetic.blur_sigma(mask.shape[0]))
    rows["autoencoder_ideal_share_in_mask"].append(share_inside(ideal_roundtrip(image, ideal[None, ..., None]),
                                                                mask))
    if args.baselines:
      grad = explain.gradient(score_fn, image)[..., 0]
      heats["saliency"] = np.abs(grad)
      around = ndimage.binary_dilation(mask, iterations=OFFSET_PIXELS)
      rows[f"gradient_offset_balance_within_{OFFSET_PIXELS}px"].append(
          float(grad[around].sum() / max(np.abs(grad[around]).sum(), 1e-30)))
      ig = explain.integrated_gradients(score_fn, image)
      heats["integrated_gradients"] = np.abs(ig.attributions[..., 0])
      rows["ig_relative_gap"].append(abs(ig.gap) / max(abs(ig.score - ig.baseline_score), 1e-12))
    for name, heat in heats.items():
      if args.heat_sigma > 0:
        heat = ndimage.gaussian_filter(np.asarray(heat, np.float64), args.heat_sigma, mode="constant")
      share, precision = localization(heat, mask)
      rows[f"{name}_share_in_mask"].append(share)
      rows[f"{name}_mostly_inside"].append(float(share > 0.5))  # The fraction of images with over half inside.
      rows[f"{name}_top_k_precision"].append(precision)
      for d, region in near.items():
        rows[f"{name}_share_within_{d}px"].append(share_inside(heat, region))
    reasons[result.stop_reason] += 1
    if used < 3:
      stem = os.path.join(args.out_dir, f"example_{used}")
      explain.save_gif(f"{stem}.gif", explain.walk_pictures(result, image))
      viz.save_png(f"{stem}_heatmap.png", explain.heat_overlay(image, result.heatmap))
      viz.save_png(f"{stem}_mask.png", explain.heat_overlay(image, mask.astype(np.float32)))
    used += 1
  summary = {"pathology": args.pathology, "num_images": used,
             **{name: round(float(np.mean(values)), 4) for name, values in rows.items()},
             "stop_reasons": dict(reasons), "seconds": round(time.perf_counter() - start, 1)}
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  main()
