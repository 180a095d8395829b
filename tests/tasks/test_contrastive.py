"""Contrastive task: preprocessing of shapes-like and COCO-like examples, and its loss with the trainer's mesh
(sharded over 8 fake devices) equal to the unsharded loss, gradients included."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jvision import models, tasks

TINY = dict(embed_dim=8, image_size=16, vision_layers=1, vision_width=16, vision_patch_size=8, vision_heads=2,
            context_length=12, vocab_size=128, text_width=16, text_heads=2, text_layers=1)


def example(caption, rng, key="caption"):
  image = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
  if key == "caption":
    return {"image": image, "caption": caption.encode()}
  return {"image": image, "captions": {"text": np.array([c.encode() for c in caption]), "id": np.arange(2)}}


def test_preprocess_shapes_and_coco_examples():
  task = tasks.get_task("contrastive", dataset="shapes/single_64", image_size=16, context_length=12,
                        vocab_size=128)
  rng = np.random.default_rng(0)
  out = task.preprocess_eval(example("a large red star in the top left", rng))
  chex.assert_shape(out["image"], (16, 16, 3))
  want = task.tokenizer.tokenize(["a large red star in the top left"], 12)[0]
  np.testing.assert_array_equal(out["tokens"], want)
  coco = example(["a red star", "a blue circle"], rng, key="captions")
  picks = {tuple(task.preprocess_train(coco, np.random.default_rng(s))["tokens"]) for s in range(20)}
  assert picks == {tuple(task.tokenizer.tokenize([c], 12)[0]) for c in ("a red star", "a blue circle")}
  np.testing.assert_array_equal(task.preprocess_eval(coco)["tokens"], task.tokenizer.tokenize(["a red star"], 12)[0])
  with pytest.raises(KeyError, match="no 'caption' or 'captions'"):
    task.preprocess_eval({"image": coco["image"]})
  with pytest.raises(ValueError, match="vocab_size is 10"):
    tasks.get_task("contrastive", dataset="x", vocab_size=10)


def test_caption_drop_augmentation():
  task = tasks.get_task("contrastive", dataset="shapes/single_64", image_size=16, context_length=12,
                        caption_drop_patterns=(r" in the .*$", r"\b(small|medium|large)\b"),
                        caption_drop_probability=0.5)
  ex = example("a large red star in the top left", np.random.default_rng(0))
  seen = {task.tokenizer.decode(task.preprocess_train(ex, np.random.default_rng(s))["tokens"]) for s in range(40)}
  assert seen == {"a large red star in the top left", "a red star in the top left", "a large red star",
                  "a red star"}
  # Evaluation keeps the caption whole.
  assert task.tokenizer.decode(task.preprocess_eval(ex)["tokens"]) == "a large red star in the top left"
  with pytest.raises(ValueError, match="caption_drop_probability"):
    tasks.get_task("contrastive", dataset="x", caption_drop_probability=1.5)


@pytest.mark.parametrize("loss", ["softmax", "sigmoid"])
def test_loss_with_mesh_equals_unsharded(loss):
  mesh = Mesh(np.asarray(jax.devices()), ("data",))
  model = models.get_model("clip", **TINY)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)))
  rng = np.random.default_rng(1)
  batch = {"image": rng.normal(size=(16, 16, 16, 3)).astype(np.float32),
           "tokens": np.concatenate([np.full((16, 1), 2), rng.integers(3, 60, (16, 5)), np.full((16, 1), 127),
                                     np.zeros((16, 5), int)], 1).astype(np.int32)}
  common = dict(dataset="shapes/single_64", image_size=16, context_length=12, vocab_size=128, loss=loss)
  sharded_task = tasks.get_task("contrastive", mesh=mesh, **common)
  plain_task = tasks.get_task("contrastive", **common)

  def value_and_grad(task, batch):
    fn = lambda params: task.loss(model.apply, {"params": params}, batch, jax.random.PRNGKey(0))[0]
    return jax.jit(jax.value_and_grad(fn))(variables["params"])

  sharded_batch = jax.device_put(batch, NamedSharding(mesh, P("data")))
  got_value, got_grads = value_and_grad(sharded_task, sharded_batch)
  want_value, want_grads = value_and_grad(plain_task, batch)
  chex.assert_trees_all_close(got_value, want_value, atol=1e-5, rtol=1e-5)
  chex.assert_trees_all_close(got_grads, want_grads, atol=1e-5, rtol=1e-4)
  assert np.isfinite(float(want_value)) and float(want_value) > 0
