"""Contrastive image-text pretraining (CLIP, Radford et al. 2021; SigLIP, Zhai et al. 2023).

A raw example (a uint8 ``image`` with a ``caption`` string, as in ``shapes/*``, or ``captions/text``, as in
``coco_captions``) becomes a CLIP-preprocessed image and the token ids of one caption (a random one in
training, the first in evaluation). The loss is ``jvision.losses.contrastive``'s symmetric InfoNCE (``loss="softmax"``) or sigmoid
loss (``"sigmoid"``); when the trainer hands the task its ``mesh``, the loss is computed sharded over the
``data`` axis (local rows against the global batch) and equals the unsharded loss.

Evaluation collects the normalized embeddings and reports image->text and text->image recall@1/5 over the
whole eval split (``jvision.metrics.retrieval``; captions with the same tokens count as one text).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jvision import tokenizers
from jvision.tokenizers import as_text_list
from jvision.data.clip_preprocessing import clip_preprocess
from jvision.losses import contrastive
from jvision.metrics.retrieval import RetrievalEvaluator


class ContrastiveTask:
  """CLIP-style training on image-caption pairs.

  Args:
    dataset: the TFDS name, for error messages (e.g. ``"shapes/single_64"``).
    image_size: side of the square model input (CLIP's resize + centre crop).
    context_length: token ids per caption.
    tokenizer: ``"words"`` (built-in vocabulary) or ``"clip_bpe"`` (needs ``merges_path``).
    merges_path: the CLIP BPE merges file, for ``tokenizer="clip_bpe"``.
    vocab_size: the model's vocabulary size; a tokenizer with more ids is an error.
    loss: ``"softmax"`` (CLIP) or ``"sigmoid"`` (SigLIP).
    mesh: the trainer's device mesh (passed by ``jvision.train``); ``None`` computes the loss unsharded.
    caption_drop_patterns / caption_drop_probability: training-time text augmentation: each regular
      expression's matches are deleted from the caption with this probability (independently per pattern),
      e.g. dropping the position phrase of a shapes caption so that shape and colour must tell pairs apart.
  """

  def __init__(self, dataset: str, image_size: int = 224, context_length: int = 77, tokenizer: str = "words",
               merges_path: str = "", vocab_size: int = 0, loss: str = "softmax", mesh: Optional[Mesh] = None,
               caption_drop_patterns: Sequence[str] = (), caption_drop_probability: float = 0.0):
    self.dataset = dataset
    self.image_size = image_size
    self.context_length = context_length
    kwargs = {"merges_path": merges_path} if tokenizer == "clip_bpe" else {}
    self.tokenizer = tokenizers.get_tokenizer(tokenizer, **kwargs)
    if vocab_size and self.tokenizer.vocab_size > vocab_size:
      raise ValueError(f"tokenizer {tokenizer!r} has {self.tokenizer.vocab_size} ids but the model's vocab_size "
                       f"is {vocab_size}")
    if loss not in ("softmax", "sigmoid"):
      raise ValueError(f"unknown contrastive loss {loss!r}; known: softmax, sigmoid")
    self.loss_kind = loss
    if not 0.0 <= caption_drop_probability <= 1.0:
      raise ValueError(f"caption_drop_probability must be in [0, 1], got {caption_drop_probability}")
    self.caption_drop_patterns = [re.compile(p) for p in caption_drop_patterns]
    self.caption_drop_probability = caption_drop_probability
    self.mesh = mesh
    if mesh is not None and mesh.size > 1:
      self._loss_fn = contrastive.make_sharded_loss(mesh, loss)
    elif loss == "softmax":
      self._loss_fn = lambda x, y, scale, bias: contrastive.clip_loss(x, y, scale)
    else:
      self._loss_fn = contrastive.sigmoid_loss

  # Host side.

  def _adapt(self, example: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
    image = np.asarray(example["image"]) if "image" in example else None
    if image is None or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
      got = "no image" if image is None else f"{image.dtype} {image.shape}"
      raise ValueError(f"{self.dataset}: expected a uint8 [H, W, 3] 'image', got {got}")
    if image.shape[2] == 1:
      image = np.repeat(image, 3, axis=2)  # Some COCO pictures are grey.
    if "caption" in example:  # shapes/*
      captions = as_text_list([example["caption"]])
    elif "captions" in example:  # coco_captions: a sequence of {"text", "id"}
      captions = as_text_list(list(np.asarray(example["captions"]["text"]).reshape(-1)))
    else:
      raise KeyError(f"{self.dataset}: example has no 'caption' or 'captions' key; it has: {', '.join(example)}")
    if not captions:
      raise ValueError(f"{self.dataset}: the example has no captions")
    return clip_preprocess(image, self.image_size), captions

  def _tokens(self, caption: str) -> np.ndarray:
    return self.tokenizer.tokenize([caption], self.context_length)[0]

  def preprocess_train(self, example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    image, captions = self._adapt(example)
    caption = captions[int(rng.integers(len(captions)))]
    for pattern in self.caption_drop_patterns:
      if rng.random() < self.caption_drop_probability:
        caption = " ".join(pattern.sub("", caption).split())
    return {"image": image, "tokens": self._tokens(caption)}

  def preprocess_eval(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    image, captions = self._adapt(example)
    return {"image": image, "tokens": self._tokens(captions[0])}

  # Device side.

  def loss(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any], batch: Mapping[str, jnp.ndarray],
           rng: jax.Array):
    """``(loss, (metrics, new_model_state))`` of a global batch of image-caption pairs."""
    del rng  # No dropout.
    mutable = [name for name in variables if name != "params"]
    out, new_model_state = apply_fn(variables, batch["image"], batch["tokens"], train=True, mutable=mutable)
    loss = self._loss_fn(out["image"], out["text"], out["scale"], out["bias"])
    return loss, ({"loss": loss, "logit_scale": out["scale"]}, dict(new_model_state))

  def eval_outputs(self, apply_fn: Callable[..., Any], variables: Mapping[str, Any],
                   batch: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    out = apply_fn(variables, batch["image"], batch["tokens"], train=False)
    return {"image": out["image"], "text": out["text"], "tokens": batch["tokens"], "mask": batch["mask"]}

  def make_evaluator(self) -> RetrievalEvaluator:
    return RetrievalEvaluator()
