"""`xray_synthetic`: chest-X-ray-like images with planted findings, multi-label, some labels uncertain.

A stand-in for CheXpert/NIH that builds from code: a grey-scale thorax (soft-tissue ellipse, two dark lung
fields, spine, faint ribs, heart) with five independently planted findings, each present with probability
``prevalence``:

- ``Cardiomegaly``: the heart is widened (cardiothoracic ratio above ~0.5 instead of ~0.35).
- ``Effusion``: one lung base filled with fluid density up to a meniscus.
- ``Nodule``: a small dense disc (radius 2.5-4 % of the image) inside a lung.
- ``Mass``: a larger dense disc (radius 7-10 %) inside a lung.
- ``Consolidation``: a blurred, textured opacity (radius 8-12 %) inside a lung.

A third of the present findings are drawn subtle (lower contrast or size); like a radiologist's "uncertain"
(CheXpert's -1), a subtle finding is labelled -1 with probability 0.6, and an absent one with probability
0.04. ``true_labels`` keeps the ground truth (0/1) for evaluation; ``finding_masks`` shows where each finding
was planted (the heart for cardiomegaly), for explanation tests. Each example is drawn from its own seed
(``SeedSequence([seed, split, index])``), so builds are deterministic.

Example features: image uint8 [S, S, 1]; labels float32 [5] (1, 0, -1); true_labels float32 [5] (0, 1);
finding_masks uint8 [S, S, 5]; lung_mask uint8 [S, S, 1]; image_id int64 (the index in its split; TFDS
stores examples in another order); patient_id int64 (shared by consecutive pairs of images, for
patient-level split checks; their anatomy is drawn independently).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

PATHOLOGIES = ("Cardiomegaly", "Effusion", "Nodule", "Mass", "Consolidation")
_SPLITS = ("train", "test")
SUBTLE_FRACTION = 1.0 / 3.0
UNCERTAIN_IF_SUBTLE = 0.6
UNCERTAIN_IF_ABSENT = 0.04


@dataclasses.dataclass(eq=False)
class XraySyntheticConfig(tfds.core.BuilderConfig):
  """Image size, split sizes, finding prevalence and seed."""
  image_size: int = 64
  num_train: int = 4000
  num_test: int = 800
  prevalence: float = 0.3
  seed: int = 0


def _ellipse(ys, xs, cy, cx, ry, rx):
  return ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1.0


def _point_in_lung(rng, lung, min_distance):
  """A random (y, x) inside ``lung`` at least ``min_distance`` (pixels) from its border."""
  from scipy import ndimage

  inner = ndimage.distance_transform_edt(lung) >= min_distance
  candidates = np.argwhere(inner if inner.any() else lung)
  return candidates[rng.integers(len(candidates))]


def blur_sigma(size: int) -> float:
  """The acquisition blur of a ``size`` x ``size`` image (Gaussian sigma in pixels): 0.6 px at 64 px."""
  return 0.6 * size / 64


def render_example(size: int, prevalence: float, rng: np.random.Generator) -> dict:
  """One example (see the module docstring) drawn with ``rng``; ``image`` as float in [0, 1] is rounded to
  uint8 at the end."""
  from scipy import ndimage

  ys, xs = np.mgrid[:size, :size].astype(np.float32) / size
  present = rng.random(len(PATHOLOGIES)) < prevalence
  subtle = present & (rng.random(len(PATHOLOGIES)) < SUBTLE_FRACTION)
  masks = np.zeros((size, size, len(PATHOLOGIES)), bool)
  # Anatomy, with per-image jitter.
  jitter = lambda scale: rng.uniform(-scale, scale)
  image = np.zeros((size, size), np.float32) + 0.05
  torso = _ellipse(ys, xs, 0.56 + jitter(0.02), 0.5 + jitter(0.02), 0.5, 0.44 + jitter(0.02))
  image[torso] = 0.45
  lung_ry, lung_rx, lung_cy = 0.28 + jitter(0.02), 0.14 + jitter(0.01), 0.46 + jitter(0.02)
  lungs = [_ellipse(ys, xs, lung_cy, 0.5 + side * (0.18 + jitter(0.01)), lung_ry, lung_rx) for side in (-1, 1)]
  lung_mask = lungs[0] | lungs[1]
  image[lung_mask] = 0.15
  image += 0.04 * lung_mask * (np.sin(ys * size * 0.9 + 3 * np.abs(xs - 0.5)) > 0.6)  # Faint ribs.
  image[np.abs(xs - 0.5) < 0.03] += 0.15  # Spine.
  # Heart: half-width 0.11-0.14 normally; 0.19-0.24 with cardiomegaly (0.16-0.18 when subtle).
  c = PATHOLOGIES.index("Cardiomegaly")
  heart_rx = (rng.uniform(0.16, 0.18) if subtle[c] else rng.uniform(0.19, 0.24)) if present[c] else rng.uniform(0.11, 0.14)
  heart = _ellipse(ys, xs, 0.66 + jitter(0.02), 0.54 + jitter(0.02), 0.13 + jitter(0.01), heart_rx)
  image[heart] = np.maximum(image[heart], 0.55)
  masks[..., c] = heart if present[c] else False
  # Effusion: one lung's base up to a meniscus (higher at the outer edge).
  e = PATHOLOGIES.index("Effusion")
  if present[e]:
    side = rng.integers(2)
    lung = lungs[side]
    bottom = ys[lung].max()
    depth = rng.uniform(0.05, 0.08) if subtle[e] else rng.uniform(0.1, 0.2)
    outer = np.abs(xs - 0.5) / 0.35  # 0 at the midline, ~1 at the outer lung edge.
    fluid = lung & (ys >= bottom - depth * (0.6 + 0.6 * outer))
    image[fluid] = np.maximum(image[fluid], 0.4 if subtle[e] else 0.5)
    masks[..., e] = fluid
  # Discs and opacities inside a lung.
  for name, radius_range, contrast in (("Nodule", (0.025, 0.04), 0.3), ("Mass", (0.07, 0.1), 0.35)):
    k = PATHOLOGIES.index(name)
    if present[k]:
      radius = rng.uniform(*radius_range)
      cy, cx = _point_in_lung(rng, lung_mask, radius * size) / size
      disc = _ellipse(ys, xs, cy, cx, radius, radius)
      image[disc] += contrast * (0.45 if subtle[k] else 1.0)
      masks[..., k] = disc
  k = PATHOLOGIES.index("Consolidation")
  if present[k]:
    radius = rng.uniform(0.08, 0.12)
    cy, cx = _point_in_lung(rng, lung_mask, 0.5 * radius * size) / size
    blob = np.exp(-(((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * (radius / 1.5) ** 2)))
    texture = ndimage.gaussian_filter(rng.normal(size=(size, size)), 1.0) * 2.0
    opacity = blob * (0.25 + 0.1 * texture) * (0.5 if subtle[k] else 1.0) * lung_mask
    image += opacity.astype(np.float32)
    masks[..., k] = (blob > 0.3) & lung_mask
  # Acquisition: blur, exposure, noise.
  image = ndimage.gaussian_filter(image, blur_sigma(size))
  image = image * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05)
  image = image + rng.normal(0, 0.02, image.shape)
  true_labels = present.astype(np.float32)
  uncertain = np.where(subtle, rng.random(len(PATHOLOGIES)) < UNCERTAIN_IF_SUBTLE,
                       ~present & (rng.random(len(PATHOLOGIES)) < UNCERTAIN_IF_ABSENT))
  labels = np.where(uncertain, -1.0, true_labels).astype(np.float32)
  return {"image": np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)[..., None],
          "labels": labels, "true_labels": true_labels, "finding_masks": masks.astype(np.uint8),
          "lung_mask": lung_mask.astype(np.uint8)[..., None]}


def render(config: XraySyntheticConfig, split: str, index: int) -> dict:
  """Example ``index`` of ``split`` as the builder stores it."""
  if split not in _SPLITS:
    raise ValueError(f"unknown xray_synthetic split {split!r}; known: {', '.join(_SPLITS)}")
  rng = np.random.default_rng(np.random.SeedSequence([config.seed, _SPLITS.index(split), index]))
  example = render_example(config.image_size, config.prevalence, rng)
  example["image_id"] = index
  example["patient_id"] = index // 2 + (0 if split == "train" else 10**6)
  return example


class XraySynthetic(tfds.core.GeneratorBasedBuilder):
  """Synthetic chest X-rays with five planted findings and CheXpert-style uncertain labels."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
      XraySyntheticConfig(name="64", description="64 px, 4000 train / 800 test images."),
      XraySyntheticConfig(name="128", description="128 px, 4000 train / 800 test images.", image_size=128),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.image_size
    n = len(PATHOLOGIES)
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(size, size, 1)),
            "labels": tfds.features.Tensor(shape=(n,), dtype=np.float32),
            "true_labels": tfds.features.Tensor(shape=(n,), dtype=np.float32),
            "finding_masks": tfds.features.Tensor(shape=(size, size, n), dtype=np.uint8),
            "lung_mask": tfds.features.Image(shape=(size, size, 1)),
            "image_id": np.int64,
            "patient_id": np.int64,
        }),
        supervised_keys=None,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    config = self.builder_config
    return {"train": self._generate_examples("train", config.num_train),
            "test": self._generate_examples("test", config.num_test)}

  def _generate_examples(self, split: str, num_examples: int):
    for index in range(num_examples):
      yield index, render(self.builder_config, split, index)
