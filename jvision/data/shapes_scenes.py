"""Procedural scenes of coloured shapes on photographic backgrounds, for the embedded ``shapes`` dataset.

A scene is a few shapes (circle, square, triangle, star, hexagon, ellipse) of several colours and sizes,
rotated, possibly overlapping (later shapes occlude earlier ones; every shape keeps at least half of itself
visible), on a random window cut from the photographs and textures that scikit-image ships. A smooth lighting
gradient, a random gamma and Gaussian noise are applied to the whole picture and each shape gets its own colour
jitter and shading, so neither a colour threshold nor a fixed template recognises the shapes.

Everything is a pure function of a ``np.random.Generator``; the same generator state gives the same scene,
byte for byte. Boxes are the tight boxes of the *visible* pixels of each shape, so box, instance mask, area and
semantic mask always agree.
"""

from __future__ import annotations

import dataclasses
import functools
import io

import numpy as np
from PIL import Image, ImageDraw
from skimage import data as skimage_data

CLASS_NAMES = ("circle", "square", "triangle", "star", "hexagon", "ellipse")
COLOURS = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.15, 0.70, 0.20),
    "blue": (0.15, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.15),
    "magenta": (0.80, 0.15, 0.75),
    "cyan": (0.10, 0.80, 0.85),
    "white": (0.95, 0.95, 0.95),
    "orange": (0.95, 0.50, 0.05),
}
COLOUR_NAMES = tuple(COLOURS)
# Circumradius as a fraction of the image side.
SIZES = {"small": (0.07, 0.11), "medium": (0.12, 0.17), "large": (0.18, 0.25)}
SIZE_NAMES = tuple(SIZES)
# Photographs and textures bundled with scikit-image (no download needed).
BACKGROUND_NAMES = ("brick", "grass", "gravel", "coffee", "astronaut", "camera", "rocket", "chelsea", "coins",
                    "moon", "immunohistochemistry", "hubble_deep_field", "colorwheel", "clock", "page", "text")
# A shape must keep at least this fraction of its own pixels visible after occlusion.
MIN_VISIBLE_FRACTION = 0.5
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclasses.dataclass(frozen=True)
class Scene:
  """One rendered scene. ``n`` objects, side ``S``.

  Attributes:
    image: uint8 [S, S, 3].
    masks: bool [n, S, S], visible pixels of each object (disjoint).
    labels: int64 [n], indices into ``CLASS_NAMES``.
    colours: int64 [n], indices into ``COLOUR_NAMES``.
    sizes: int64 [n], indices into ``SIZE_NAMES``.
    boxes: float32 [n, 4], (ymin, xmin, ymax, xmax) normalised to [0, 1]: the pixel edges of the mask's box.
    areas: int64 [n], visible pixels per object.
    segmentation: uint8 [S, S], 0 background, ``label + 1`` on each object.
    caption: templated English description of the scene.
  """
  image: np.ndarray
  masks: np.ndarray
  labels: np.ndarray
  colours: np.ndarray
  sizes: np.ndarray
  boxes: np.ndarray
  areas: np.ndarray
  segmentation: np.ndarray
  caption: str


@functools.lru_cache(maxsize=None)
def _backgrounds() -> tuple[np.ndarray, ...]:
  """The background pictures as float32 arrays in [0, 1]; grey ones are [h, w], colour ones [h, w, 3]."""
  pictures = []
  for name in BACKGROUND_NAMES:
    picture = np.asarray(getattr(skimage_data, name)())
    if picture.ndim == 3:
      picture = picture[..., :3]
    pictures.append(picture.astype(np.float32) / 255.0)
  return tuple(pictures)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
  """A random window of a random picture, resampled (nearest) to [size, size, 3] and randomly tinted."""
  pictures = _backgrounds()
  picture = pictures[rng.integers(len(pictures))]
  height, width = picture.shape[:2]
  window = int(rng.integers(min(size, height, width) // 2, min(height, width) + 1))
  top = int(rng.integers(0, height - window + 1))
  left = int(rng.integers(0, width - window + 1))
  index = (np.arange(size) * window) // size
  rows, cols = top + index, left + index
  if rng.random() < 0.5:
    cols = cols[::-1]
  crop = picture[rows[:, None], cols[None, :]]
  if crop.ndim == 2:
    crop = crop[..., None] * rng.uniform(0.5, 1.1, size=3).astype(np.float32)
  else:
    crop = crop * rng.uniform(0.8, 1.1, size=3).astype(np.float32)
  return crop


def _polygon(label: int, radius: float, aspect: float, angle: float) -> np.ndarray:
  """Vertices [V, 2] (x, y) of shape ``label`` centred at the origin."""
  name = CLASS_NAMES[label]
  if name in ("circle", "ellipse"):
    theta = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
    points = np.stack([radius * np.cos(theta), radius * aspect * np.sin(theta)], axis=-1)
  elif name == "star":
    theta = np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
    points = np.stack([radii * np.cos(theta), radii * np.sin(theta)], axis=-1)
  else:
    sides = {"square": 4, "triangle": 3, "hexagon": 6}[name]
    theta = np.arange(sides) * 2 * np.pi / sides
    points = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=-1)
  rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  return points @ rotation.T


def _rasterise(points: np.ndarray, centre: np.ndarray, size: int) -> np.ndarray:
  """Boolean [size, size] mask of the polygon (PIL's scan conversion: far faster than scikit-image's here)."""
  canvas = Image.new("L", (size, size), 0)
  # Pixel (r, c) covers [c, c + 1) x [r, r + 1); PIL addresses pixels by their top-left corner.
  vertices = [(float(x) - 0.5, float(y) - 0.5) for x, y in points + centre]
  ImageDraw.Draw(canvas).polygon(vertices, fill=1)
  return np.asarray(canvas, bool)


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
  return yy, xx


def _sample_object(rng: np.random.Generator, size: int) -> tuple[int, int, int, np.ndarray]:
  """Draws (label, colour, size class, full mask) for one object lying entirely inside the image."""
  label = int(rng.integers(len(CLASS_NAMES)))
  colour = int(rng.integers(len(COLOUR_NAMES)))
  size_class = int(rng.integers(len(SIZE_NAMES)))
  radius = rng.uniform(*SIZES[SIZE_NAMES[size_class]]) * size
  aspect = rng.uniform(0.45, 0.7) if CLASS_NAMES[label] == "ellipse" else 1.0
  points = _polygon(label, radius, aspect, rng.uniform(0, 2 * np.pi))
  low, high = -points.min(axis=0) + 1, size - points.max(axis=0) - 1
  centre = rng.uniform(low, np.maximum(high, low))
  return label, colour, size_class, _rasterise(points, centre, size)


def _place_objects(rng: np.random.Generator, size: int, count: int, max_tries: int = 20) -> list:
  """Adds objects one on top of the other, re-drawing any that would hide too much of the earlier ones."""
  objects = []  # (label, colour, size class, full mask)
  for _ in range(count):
    for _ in range(max_tries):
      candidate = _sample_object(rng, size)
      if not candidate[3].any():
        continue
      ok = True
      for index, other in enumerate(objects):
        visible = other[3].copy()
        for later in objects[index + 1:] + [candidate]:
          visible &= ~later[3]
        if visible.sum() < MIN_VISIBLE_FRACTION * other[3].sum():
          ok = False
          break
      if ok:
        objects.append(candidate)
        break
  return objects


def _region(box: np.ndarray) -> str:
  cy, cx = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
  vertical = "top" if cy < 1 / 3 else ("bottom" if cy > 2 / 3 else "middle")
  horizontal = "left" if cx < 1 / 3 else ("right" if cx > 2 / 3 else "centre")
  if vertical == "middle" and horizontal == "centre":
    return "centre"
  if vertical == "middle":
    return f"middle {horizontal}"
  return f"{vertical} {horizontal}" if horizontal != "centre" else vertical


def make_caption(labels, colours, sizes, boxes, areas) -> str:
  """Templated caption, e.g. "a large red star above a small blue circle and one more shape"."""
  def phrase(i):
    return f"a {SIZE_NAMES[sizes[i]]} {COLOUR_NAMES[colours[i]]} {CLASS_NAMES[labels[i]]}"

  n = len(labels)
  if n == 0:
    return "an empty scene"
  if n == 1:
    return f"{phrase(0)} in the {_region(boxes[0])}"
  first, second = np.argsort(-np.asarray(areas), kind="stable")[:2]
  dy = (boxes[first][0] + boxes[first][2] - boxes[second][0] - boxes[second][2]) / 2
  dx = (boxes[first][1] + boxes[first][3] - boxes[second][1] - boxes[second][3]) / 2
  if abs(dx) > abs(dy):
    relation = "to the left of" if dx < 0 else "to the right of"
  else:
    relation = "above" if dy < 0 else "below"
  caption = f"{phrase(first)} {relation} {phrase(second)}"
  if n > 2:
    more = n - 2
    caption += f" and {_NUMBER_WORDS[more] if more < len(_NUMBER_WORDS) else more} more shape{'s' * (more > 1)}"
  return caption


def generate_scene(rng: np.random.Generator, image_size: int = 128, min_objects: int = 1,
                   max_objects: int = 1) -> Scene:
  """Renders one scene with between ``min_objects`` and ``max_objects`` shapes (fewer only if they do not fit)."""
  if image_size < 16:
    raise ValueError(f"image_size must be at least 16 pixels, got {image_size}")
  if not 1 <= min_objects <= max_objects:
    raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
  size = image_size
  image = _background(rng, size)
  objects = _place_objects(rng, size, int(rng.integers(min_objects, max_objects + 1)))

  yy, xx = _grid(size)
  occupied = np.zeros((size, size), bool)
  masks = []
  for *_, full in reversed(objects):  # Top-most first.
    masks.append(full & ~occupied)
    occupied |= full
  masks = masks[::-1]
  for (_, colour, _, _), visible in zip(objects, masks):
    base = np.asarray(COLOURS[COLOUR_NAMES[colour]], np.float32)
    base = np.clip(base + rng.normal(0, 0.06, size=3).astype(np.float32), 0, 1)
    # A linear shading ramp across the object and a little of the background texture showing through.
    gx, gy = rng.normal(0, 0.6, size=2)
    shade = 1.0 + gx * (xx[visible] - xx[visible].mean()) + gy * (yy[visible] - yy[visible].mean())
    texture = rng.uniform(0.0, 0.25)
    image[visible] = (1 - texture) * base[None, :] * shade[:, None] + texture * image[visible]

  # Global lighting: a planar gain field and a gamma, then sensor noise.
  gain = rng.uniform(0.7, 1.1) + rng.uniform(-0.35, 0.35) * (xx - 0.5) + rng.uniform(-0.35, 0.35) * (yy - 0.5)
  image = np.clip(image * gain[..., None], 0, 1) ** np.float32(rng.uniform(0.7, 1.4))
  image += np.float32(rng.uniform(0.01, 0.05)) * rng.standard_normal(image.shape, dtype=np.float32)
  image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)

  masks = np.stack(masks) if masks else np.zeros((0, size, size), bool)
  labels = np.array([o[0] for o in objects], np.int64)
  boxes = np.zeros((len(objects), 4), np.float32)
  for i, mask in enumerate(masks):
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    boxes[i] = (rows[0] / size, cols[0] / size, (rows[-1] + 1) / size, (cols[-1] + 1) / size)
  areas = masks.reshape(len(objects), -1).sum(axis=1).astype(np.int64)
  segmentation = np.zeros((size, size), np.uint8)
  for label, mask in zip(labels, masks):
    segmentation[mask] = label + 1
  colours = np.array([o[1] for o in objects], np.int64)
  sizes = np.array([o[2] for o in objects], np.int64)
  caption = make_caption(labels, colours, sizes, boxes, areas)
  return Scene(image=image, masks=masks, labels=labels, colours=colours, sizes=sizes, boxes=boxes,
               areas=areas, segmentation=segmentation, caption=caption)


def encode_png(array: np.ndarray) -> bytes:
  """PNG bytes of a uint8 [H, W, 3] or [H, W] / [H, W, 1] array (lossless)."""
  array = np.asarray(array, np.uint8)
  if array.ndim == 3 and array.shape[2] == 1:
    array = array[..., 0]
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
  return buffer.getvalue()


def render_task(task: tuple[int, int, int, int, int, int]) -> Scene:
  """Scene ``(image_size, min_objects, max_objects, seed, split_index, index)``, from its own seed sequence."""
  image_size, min_objects, max_objects, seed, split_index, index = task
  rng = np.random.default_rng(np.random.SeedSequence([seed, split_index, index]))
  return generate_scene(rng, image_size, min_objects, max_objects)


def render_encoded(task: tuple[int, int, int, int, int, int]) -> dict:
  """The TFDS example of ``render_task(task)`` with PNG-encoded image and masks (work for a process pool: no
  TensorFlow needed)."""
  scene = render_task(task)
  index = task[-1]
  return {
      "image": encode_png(scene.image),
      "image_id": index,
      "objects": {
          "bbox": scene.boxes,
          "label": scene.labels,
          "colour": scene.colours,
          "size": scene.sizes,
          "mask": [encode_png(mask.astype(np.uint8)) for mask in scene.masks],
          "area": scene.areas,
          "is_crowd": np.zeros(len(scene.labels), bool),
      },
      "segmentation_mask": encode_png(scene.segmentation),
      "caption": scene.caption,
  }
