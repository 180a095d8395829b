"""Contrastive image-text losses, unsharded and sharded over a ``data`` mesh axis.

- Symmetric InfoNCE of CLIP (Radford et al., "Learning Transferable Visual Models From Natural Language
  Supervision", ICML 2021, Fig. 3): cross-entropy over the image->text and text->image similarity rows.
- The sigmoid loss of SigLIP (Zhai et al., "Sigmoid Loss for Language Image Pre-Training", ICCV 2023, Alg. 1
  and Sec. 3.3): every image-text pair is an independent binary classification, ``-log sigmoid(z (t x.y + b))``
  with ``z = +1`` on matching pairs, summed and divided by the global batch size.

Sharded forms (call them inside ``shard_map``, or through ``make_sharded_loss``): each device holds its local
batch ``[B_local, D]`` of L2-normalized embeddings.

- ``sharded_clip_loss`` all-gathers both embeddings over the axis; each device computes only the logits of its
  local rows against the global columns (``[B_local, B_global]``, never ``[B_global, B_global]``) with labels
  offset by ``axis_index * B_local``. The gather's transpose is a reduce-scatter, so gradients are exact.
- ``sharded_sigmoid_loss`` never gathers: text embeddings travel around the device ring with ``ppermute``; at
  each of the ``n`` steps a device scores its images against one ``[B_local, B_local]`` chunk of texts.
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec as P


def _check_embeddings(image_emb: jnp.ndarray, text_emb: jnp.ndarray, name: str) -> None:
  if image_emb.ndim != 2 or image_emb.shape != text_emb.shape:
    raise ValueError(f"{name}: expected image and text embeddings of one shape [B, D], got "
                     f"{image_emb.shape} and {text_emb.shape}")


def _cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  """Per-row cross-entropy of ``logits [N, K]`` against integer ``labels [N]`` -> ``[N]``."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]


def clip_loss(image_emb: jnp.ndarray, text_emb: jnp.ndarray, logit_scale: jnp.ndarray) -> jnp.ndarray:
  """Symmetric InfoNCE on one device: ``image_emb, text_emb [B, D]`` (pair i matches i) -> scalar.

  ``logit_scale`` multiplies the cosine similarities (CLIP's ``exp(t)``, already clamped).
  """
  _check_embeddings(image_emb, text_emb, "clip_loss")
  logits = logit_scale * image_emb @ text_emb.T
  labels = jnp.arange(image_emb.shape[0])
  return 0.5 * (jnp.mean(_cross_entropy(logits, labels)) + jnp.mean(_cross_entropy(logits.T, labels)))


def sigmoid_loss(image_emb: jnp.ndarray, text_emb: jnp.ndarray, logit_scale: jnp.ndarray,
                 logit_bias: jnp.ndarray) -> jnp.ndarray:
  """SigLIP loss on one device: ``[B, D]`` embeddings -> scalar (sum over all B^2 pairs, divided by B)."""
  _check_embeddings(image_emb, text_emb, "sigmoid_loss")
  logits = logit_scale * image_emb @ text_emb.T + logit_bias
  signs = 2.0 * jnp.eye(image_emb.shape[0]) - 1.0
  return -jnp.sum(jax.nn.log_sigmoid(signs * logits)) / image_emb.shape[0]


def sharded_clip_loss(image_emb: jnp.ndarray, text_emb: jnp.ndarray, logit_scale: jnp.ndarray,
                      axis_name: str = "data") -> jnp.ndarray:
  """Symmetric InfoNCE of the global batch from local ``[B_local, D]`` shards (inside ``shard_map``).

  Returns the global loss, the same on every device. Per-device logits are ``[B_local, B_global]``.
  """
  _check_embeddings(image_emb, text_emb, "sharded_clip_loss")
  local = image_emb.shape[0]
  all_images = jax.lax.all_gather(image_emb, axis_name, tiled=True)  # [B_global, D]
  all_texts = jax.lax.all_gather(text_emb, axis_name, tiled=True)
  labels = jax.lax.axis_index(axis_name) * local + jnp.arange(local)
  image_to_text = logit_scale * image_emb @ all_texts.T  # [B_local, B_global]
  text_to_image = logit_scale * text_emb @ all_images.T
  total = jnp.sum(_cross_entropy(image_to_text, labels)) + jnp.sum(_cross_entropy(text_to_image, labels))
  global_batch = all_images.shape[0]
  return 0.5 * jax.lax.psum(total, axis_name) / global_batch


def sharded_sigmoid_loss(image_emb: jnp.ndarray, text_emb: jnp.ndarray, logit_scale: jnp.ndarray,
                         logit_bias: jnp.ndarray, axis_name: str = "data") -> jnp.ndarray:
  """SigLIP loss of the global batch from local shards, texts passed around the ring (inside ``shard_map``).

  Device k first scores its own pairs (positives on the diagonal), then receives the texts of device k-1,
  k-2, ... (all negatives); only ``[B_local, B_local]`` logits exist at a time.
  """
  _check_embeddings(image_emb, text_emb, "sharded_sigmoid_loss")
  num_devices = jax.lax.axis_size(axis_name)
  local = image_emb.shape[0]

  def chunk_loss(texts, positive: bool):
    logits = logit_scale * image_emb @ texts.T + logit_bias
    signs = (2.0 * jnp.eye(local) - 1.0) if positive else -jnp.ones((local, local))
    return -jnp.sum(jax.nn.log_sigmoid(signs * logits))

  total = chunk_loss(text_emb, positive=True)
  ring = [(i, (i + 1) % num_devices) for i in range(num_devices)]
  texts = text_emb
  for _ in range(num_devices - 1):
    texts = jax.lax.ppermute(texts, axis_name, ring)
    total = total + chunk_loss(texts, positive=False)
  return jax.lax.psum(total, axis_name) / (local * num_devices)


def make_sharded_loss(mesh: Mesh, kind: str = "softmax", axis_name: str = "data") -> Callable[..., jnp.ndarray]:
  """``loss(image_emb, text_emb, logit_scale, logit_bias=None)`` over global ``[B, D]`` arrays.

  The embeddings are split along ``axis_name`` of ``mesh`` (``shard_map``); ``kind`` is ``"softmax"`` (CLIP) or
  ``"sigmoid"`` (SigLIP, needs ``logit_bias``). Works inside and outside ``jax.jit``.
  """
  if kind not in ("softmax", "sigmoid"):
    raise ValueError(f"unknown contrastive loss kind {kind!r}; known: softmax, sigmoid")
  if axis_name not in mesh.axis_names:
    raise ValueError(f"mesh has no axis {axis_name!r}; its axes are {mesh.axis_names}")

  def check_batch(image_emb):
    size = mesh.shape[axis_name]
    if image_emb.shape[0] % size:
      raise ValueError(f"global batch {image_emb.shape[0]} is not divisible by the {size} devices of axis "
                       f"{axis_name!r}")

  if kind == "softmax":
    inner = jax.shard_map(lambda x, y, s: sharded_clip_loss(x, y, s, axis_name), mesh=mesh,
                          in_specs=(P(axis_name), P(axis_name), P()), out_specs=P())

    def loss(image_emb, text_emb, logit_scale, logit_bias: Optional[jnp.ndarray] = None):
      del logit_bias
      check_batch(image_emb)
      return inner(image_emb, text_emb, jnp.asarray(logit_scale, jnp.float32))
  else:
    inner = jax.shard_map(lambda x, y, s, b: sharded_sigmoid_loss(x, y, s, b, axis_name), mesh=mesh,
                          in_specs=(P(axis_name), P(axis_name), P(), P()), out_specs=P())

    def loss(image_emb, text_emb, logit_scale, logit_bias: Optional[jnp.ndarray] = None):
      if logit_bias is None:
        raise ValueError("the sigmoid loss needs a logit_bias")
      check_batch(image_emb)
      return inner(image_emb, text_emb, jnp.asarray(logit_scale, jnp.float32),
                   jnp.asarray(logit_bias, jnp.float32))
  return loss
