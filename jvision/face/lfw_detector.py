"""jvision's own face detector: the LFW-trained face / non-face CNN slid over an image pyramid (OverFeat-style).

The classifier of ``experiments/face_detector_lfw.py`` (25x25 grey patches, ``jvision.models.cnn``) scores
every 25x25 window (stride 4) of every level of a 5/6-step image pyramid, all windows of a level in one
batched call (Sermanet et al., "OverFeat", ICLR 2014, apply a classifier densely over scales); windows whose
face probability exceeds ``threshold`` are mapped back to image pixels and kept greedily by probability unless
they overlap a kept one by IoU > ``nms_iou``. ``jvision.face`` uses it for ``model='hog'`` when
``$JVISION_FACE_HOG_WORKDIR`` names a trained workdir. A demonstration of the training path: it was trained on
150 tight face crops and is far weaker than dlib's CNN detector.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

PATCH, STRIDE, RATE = 25, 4, 5.0 / 6.0


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
  order, keep = np.argsort(-scores, kind="stable"), []
  area = lambda b: (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
  for i in order:
    if keep:
      kept = boxes[keep]
      w = np.minimum(kept[:, 2], boxes[i, 2]) - np.maximum(kept[:, 0], boxes[i, 0]) + 1
      h = np.minimum(kept[:, 3], boxes[i, 3]) - np.maximum(kept[:, 1], boxes[i, 1]) + 1
      inter = np.clip(w, 0, None) * np.clip(h, 0, None)
      if (inter / (area(kept) + area(boxes[i]) - inter) > iou).any():
        continue
    keep.append(int(i))
  return keep


class LfwFaceDetector:
  """Sliding-window detector around a trained 25x25 face classifier.

  Args:
    model / variables: the flax classifier (2 logits, ``[B, 25, 25, 1]`` input) and its variables.
    mean / std: the task's input normalization (after scaling to [0, 1]).
    threshold: minimum face probability of a window.
    nms_iou: windows overlapping a better one by more than this IoU are dropped.
  """

  def __init__(self, model, variables, mean: float, std: float, threshold: float = 0.99, nms_iou: float = 0.3):
    self.model, self.variables = model, variables
    self.mean, self.std = float(mean), float(std)
    self.threshold, self.nms_iou = threshold, nms_iou

  def levels(self, height: int, width: int) -> list[tuple[float, int, int]]:
    """``(scale, rows, cols)`` of the pyramid levels that still hold a window."""
    out, scale = [], 1.0
    while round(height * scale) >= PATCH and round(width * scale) >= PATCH:
      out.append((scale, round(height * scale), round(width * scale)))
      scale *= RATE
    return out

  @functools.partial(jax.jit, static_argnums=(0,))
  def _probabilities(self, variables, images: jnp.ndarray) -> list[jnp.ndarray]:
    """``images [B, H, W, 3]`` uint8 -> per level, face probabilities ``[B, rows', cols']`` of the windows."""
    grey = jnp.mean(images.astype(jnp.float32), axis=-1, keepdims=True) / 255.0
    grey = (grey - self.mean) / self.std
    batch, height, width = images.shape[:3]
    out = []
    for _, rows, cols in self.levels(height, width):
      level = jax.image.resize(grey, (batch, rows, cols, 1), "linear")
      patches = jax.lax.conv_general_dilated_patches(
          level, (PATCH, PATCH), (STRIDE, STRIDE), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
      grid = patches.shape[1:3]
      windows = patches.reshape(-1, PATCH * PATCH).reshape(-1, PATCH, PATCH, 1)  # Channel-major = 1 channel.
      logits = self.model.apply(variables, windows, train=False)
      out.append(jax.nn.softmax(logits)[:, 1].reshape(batch, *grid))
    return out

  def __call__(self, images, upsample: int = 0) -> list[list[tuple[int, int, int, int]]]:
    """Faces of each same-size RGB uint8 image ``[B, H, W, 3]`` as ``(left, top, right, bottom)`` boxes."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
      raise ValueError(f"expected RGB uint8 images [B, H, W, 3], got {images.dtype} {images.shape}")
    factor = 2**upsample
    if factor > 1:
      images = np.asarray(jax.image.resize(images.astype(np.float32), (images.shape[0], images.shape[1] * factor,
                                           images.shape[2] * factor, 3), "linear")).clip(0, 255).astype(np.uint8)
    levels = self.levels(*images.shape[1:3])
    probabilities = [np.asarray(p) for p in self._probabilities(self.variables, jnp.asarray(images))]
    results = []
    for b in range(images.shape[0]):
      boxes, scores = [], []
      for (scale, _, _), p in zip(levels, probabilities):
        rows, cols = np.nonzero(p[b] > self.threshold)
        for r, c in zip(rows, cols):
          x0, y0 = c * STRIDE / scale / factor, r * STRIDE / scale / factor
          side = PATCH / scale / factor
          boxes.append((x0, y0, x0 + side - 1, y0 + side - 1))
          scores.append(p[b, r, c])
      if not boxes:
        results.append([])
        continue
      boxes = np.round(np.array(boxes)).astype(int)
      keep = _nms(boxes, np.array(scores), self.nms_iou)
      results.append([tuple(int(v) for v in boxes[i]) for i in keep])
    return results


def load_lfw_detector(workdir: Optional[str] = None, **kwargs) -> LfwFaceDetector:
  """The detector from a trained ``experiments/face_detector_lfw.py`` workdir (default
  ``$JVISION_FACE_HOG_WORKDIR``), restored from its latest checkpoint."""
  from jvision import checkpointing, config as config_lib, train
  workdir = workdir or os.environ.get("JVISION_FACE_HOG_WORKDIR")
  if not workdir:
    raise FileNotFoundError(
        "model='hog' uses jvision's LFW-trained detector: train it with `python -m jvision.train --config "
        "experiments/face_detector_lfw.py --workdir runs/face_detector_lfw` and set "
        "JVISION_FACE_HOG_WORKDIR=runs/face_detector_lfw (or use model='cnn')")
  config_path = os.path.join(workdir, "config.py")
  if not os.path.isfile(config_path):
    raise FileNotFoundError(f"{workdir!r} is not a trained face_detector_lfw workdir (no config.py)")
  config = config_lib.load_config(config_path)
  exp = train.build_experiment(config, devices=jax.devices()[:1])
  checkpointer = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"), every_steps=1, keep=1,
                                            use_async=False)
  if checkpointer.latest_step() is None:
    raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')!r}")
  state, _, _ = train.restore_or_init(exp, checkpointer)
  checkpointer.close()
  variables = jax.device_get({"params": state.params, **state.model_state})
  return LfwFaceDetector(exp.model, variables, exp.task.mean[0], exp.task.std[0], **kwargs)
