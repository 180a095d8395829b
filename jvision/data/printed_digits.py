"""`printed_digits`: typeset digits made the way UCI optdigits (scikit-learn's `digits`) was, built from code.

A source task for fine-tuning onto the 1,797 real handwritten digits: the same ten classes and the same 8x8
format, from another domain (one typeface, not 43 writers' pens). Each example is made as the optdigits
bitmaps were (UCI's description: a 32x32 bitmap of the digit, cut into 4x4 blocks, the "on" pixels of each
block counted, 0..16):

1. the digit is drawn with Pillow's built-in typeface (Aileron, shipped inside Pillow: no font file is read)
   at a random stroke width, rotated, sheared and squeezed at random, on a 64 px canvas;
2. it is distorted elastically (a smooth random displacement field), so no two strokes are alike;
3. thresholded to a bitmap, cropped to its ink and scaled to fill 32 px in height (aspect kept, as the NIST
   preprocessing normalised size), centred on 32x32;
4. 4x4 blocks are counted into 8x8 values 0..16, stored as uint8 ``round(v * 255 / 16)`` like `digits`.

Features and label names are those of `digits` (``image`` 8x8x1 uint8, ``label`` 0-9, ``id``), so a config
made for one reads the other. The split sizes and seed are the builder config's (default 20,000 / 2,000).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

CANVAS = 64  # Drawing canvas (px); the glyph is drawn at about half of it and may rotate without clipping.
BITMAP = 32  # The optdigits bitmap.
BLOCK = 4  # 32 / 4 = 8 values a side, each a count of 0..16 "on" pixels.


@dataclasses.dataclass
class PrintedDigitsConfig(tfds.core.BuilderConfig):
  """Split sizes and the seed of the random renderings."""
  num_train: int = 20_000
  num_test: int = 2_000
  seed: int = 0


def _elastic(image: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
  """Displaces every pixel by a smooth random field (Gaussian-filtered noise of std ``alpha`` px)."""
  from scipy import ndimage

  size = image.shape
  dy, dx = (ndimage.gaussian_filter(rng.uniform(-1, 1, size), sigma, mode="constant") for _ in range(2))
  # Normalised so that the largest displacement is ``alpha`` pixels, whatever ``sigma`` is.
  scale = alpha / max(np.abs(dy).max(), np.abs(dx).max(), 1e-6)
  rows, cols = np.meshgrid(np.arange(size[0]), np.arange(size[1]), indexing="ij")
  return ndimage.map_coordinates(image, [rows + dy * scale, cols + dx * scale], order=1, mode="constant")


def render(digit: int, rng: np.random.Generator) -> np.ndarray:
  """One printed ``digit`` as an 8x8 array of block counts 0..16 (int)."""
  from PIL import Image, ImageDraw, ImageFont

  if not 0 <= digit <= 9:
    raise ValueError(f"digit must be in 0..9, got {digit}")
  font = ImageFont.load_default(size=int(rng.integers(26, 34)))
  canvas = Image.new("L", (CANVAS, CANVAS), 0)
  ImageDraw.Draw(canvas).text((CANVAS / 2, CANVAS / 2), str(digit), fill=255, font=font, anchor="mm",
                              stroke_width=int(rng.choice(3, p=[0.4, 0.4, 0.2])), stroke_fill=255)
  # Rotation, shear and an anisotropic squeeze about the centre: Pillow's affine maps output to input pixels.
  angle = np.deg2rad(rng.uniform(-12, 12))
  shear = rng.uniform(-0.35, 0.35)
  sx, sy = rng.uniform(0.75, 1.2), rng.uniform(0.85, 1.15)
  forward = (np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
             @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy]))
  inverse = np.linalg.inv(forward)
  centre = np.array([CANVAS / 2, CANVAS / 2])
  offset = centre - inverse @ centre
  canvas = canvas.transform((CANVAS, CANVAS), Image.Transform.AFFINE,
                            (*inverse[0], offset[0], *inverse[1], offset[1]), resample=Image.Resampling.BILINEAR)
  ink = _elastic(np.asarray(canvas, np.float32) / 255.0, rng, alpha=rng.uniform(1.0, 3.0),
                 sigma=rng.uniform(3.0, 5.0)) > 0.5
  rows, cols = np.nonzero(ink)
  if rows.size == 0:  # Cannot happen with these ranges; a clear error rather than an empty bitmap if it did.
    raise RuntimeError(f"digit {digit} rendered without ink")
  glyph = Image.fromarray((ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1] * 255).astype(np.uint8))
  # Height fills the bitmap; the width follows the aspect ratio (at most the bitmap's width).
  height = BITMAP
  width = int(np.clip(round(glyph.width * height / glyph.height), 1, BITMAP))
  glyph = np.asarray(glyph.resize((width, height), Image.Resampling.BILINEAR)) > 127
  bitmap = np.zeros((BITMAP, BITMAP), bool)
  left = (BITMAP - width) // 2
  bitmap[:, left:left + width] = glyph
  return bitmap.reshape(BITMAP // BLOCK, BLOCK, BITMAP // BLOCK, BLOCK).sum(axis=(1, 3))


class PrintedDigits(tfds.core.GeneratorBasedBuilder):
  """Printed digits 0-9 in the optdigits 8x8 format, 8x8x1 uint8, 10 classes."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [PrintedDigitsConfig(name="default", description="20,000 train / 2,000 test renderings.")]

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
            "id": np.int64,
        }),
        supervised_keys=("image", "label"),
        homepage="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    config = self.builder_config
    return {"train": self._generate_examples("train", config.num_train),
            "test": self._generate_examples("test", config.num_test)}

  def _generate_examples(self, split, count):
    # Each split has its own stream of renderings; the labels cycle 0-9 so the classes are balanced.
    rng = np.random.default_rng([self.builder_config.seed, 0 if split == "train" else 1])
    for index in range(count):
      label = index % 10
      counts = render(label, rng)
      image = np.round(counts * (255.0 / 16.0)).astype(np.uint8)[..., None]
      yield index, {"image": image, "label": label, "id": index}
