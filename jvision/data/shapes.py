"""The embedded ``shapes`` dataset: procedural scenes with boxes, instance masks, semantic masks and captions.

A TFDS builder over ``shapes_scenes.generate_scene``: every example is rendered from its own seed
(``SeedSequence([config.seed, split, index])``), so a build is deterministic and needs no download. Configs:

- ``shapes/single``: exactly one object per image (localization), 128 px.
- ``shapes/multi``: 1 to 6 objects per image (detection, instance and semantic segmentation), 128 px.
- ``shapes/single_64``, ``shapes/multi_64``: 64 px, one and 1 to 4 objects (fast experiments).

Splits of 1000 examples or more are rendered by a pool of "spawn" worker processes (``Shapes.NUM_WORKERS``),
so a script that builds the default sizes needs the usual ``if __name__ == "__main__":`` guard.

Other sizes are a ``ShapesConfig`` away: ``Shapes(config=ShapesConfig(name="multi_tiny", image_size=64,
num_train=32, num_test=8, max_objects=4), data_dir=...)``.

Example features (decoded by ``tfds.data_source``):
  image: uint8 [S, S, 3].
  image_id: int64, the index of the example in its split.
  objects/bbox: float32 [n, 4], (ymin, xmin, ymax, xmax) normalised (TFDS convention), the tight box of the
    visible pixels (pixel edges: a mask on rows 3..5 gives ymin = 3 / S, ymax = 6 / S).
  objects/label: int64 [n] (``CLASS_NAMES``); objects/colour, objects/size: int64 [n].
  objects/mask: uint8 [n, S, S, 1], 1 on the visible pixels of each object (disjoint).
  objects/area: int64 [n], number of visible pixels; objects/is_crowd: bool [n] (always False).
  segmentation_mask: uint8 [S, S, 1], 0 background, ``label + 1`` on objects.
  caption: str, e.g. "a large red star above a small blue circle".
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os

import numpy as np
import tensorflow_datasets as tfds

from jvision.data import shapes_scenes

CLASS_NAMES = shapes_scenes.CLASS_NAMES
_SPLITS = ("train", "test")
# Splits at least this big are rendered by a process pool (spawning workers costs a few seconds).
_MIN_EXAMPLES_FOR_WORKERS = 1000


@dataclasses.dataclass(eq=False)
class ShapesConfig(tfds.core.BuilderConfig):
  """How big the images are, how many objects per image and how many examples per split."""
  image_size: int = 128
  min_objects: int = 1
  max_objects: int = 1
  num_train: int = 10_000
  num_test: int = 1_000
  seed: int = 0


class Shapes(tfds.core.GeneratorBasedBuilder):
  """Procedural shapes on real photographs, with boxes, masks and captions."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
      ShapesConfig(name="single", description="One object per 128 px image.", max_objects=1),
      ShapesConfig(name="multi", description="1 to 6 objects per 128 px image.", max_objects=6),
      ShapesConfig(name="single_64", description="One object per 64 px image.", image_size=64, max_objects=1),
      ShapesConfig(name="multi_64", description="1 to 4 objects per 64 px image.", image_size=64,
                   max_objects=4),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.image_size
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(size, size, 3)),
            "image_id": np.int64,
            "objects": tfds.features.Sequence({
                "bbox": tfds.features.BBoxFeature(),
                "label": tfds.features.ClassLabel(names=shapes_scenes.CLASS_NAMES),
                "colour": tfds.features.ClassLabel(names=shapes_scenes.COLOUR_NAMES),
                "size": tfds.features.ClassLabel(names=shapes_scenes.SIZE_NAMES),
                "mask": tfds.features.Image(shape=(size, size, 1)),
                "area": np.int64,
                "is_crowd": np.bool_,
            }),
            "segmentation_mask": tfds.features.Image(shape=(size, size, 1)),
            "caption": tfds.features.Text(),
        }),
        supervised_keys=None,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    config = self.builder_config
    return {"train": self._generate_examples("train", config.num_train),
            "test": self._generate_examples("test", config.num_test)}

  # Processes that render and PNG-encode scenes while TFDS serialises and writes (None: one per CPU, at
  # most 4; 0 or 1: render in this process). The bytes written are the same either way.
  NUM_WORKERS = None

  def _generate_examples(self, split: str, num_examples: int):
    config = self.builder_config
    tasks = (_task(config, split, index) for index in range(num_examples))
    workers = min(os.cpu_count() or 1, 4) if self.NUM_WORKERS is None else self.NUM_WORKERS
    if workers <= 1 or num_examples < _MIN_EXAMPLES_FOR_WORKERS:
      for index, task in enumerate(tasks):
        yield index, shapes_scenes.render_encoded(task)
      return
    # "spawn": the parent has TensorFlow's threads running, which makes fork unsafe.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
      for index, example in enumerate(pool.map(shapes_scenes.render_encoded, tasks, chunksize=64)):
        yield index, example


def _task(config: ShapesConfig, split: str, index: int) -> tuple[int, int, int, int, int, int]:
  return (config.image_size, config.min_objects, config.max_objects, config.seed, _SPLITS.index(split), index)


def render(config: ShapesConfig, split: str, index: int) -> shapes_scenes.Scene:
  """The scene of example ``index`` of ``split`` (what the builder stores, before encoding)."""
  return shapes_scenes.render_task(_task(config, split, index))
