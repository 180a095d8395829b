"""Tests for jvision/finetune.py."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvision import finetune
from jvision.models import resnet


@pytest.fixture(scope="module")
def pretrained():
  model = resnet.ResNet(stage_sizes=(1, 1), num_classes=10, width=8, cifar_stem=True)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
  return model, variables


def test_replace_head_keeps_the_backbone_and_reinitializes_the_classifier(pretrained):
  model, variables = pretrained
  new_model, new_variables = finetune.replace_head(model, variables, 3, jax.random.key(1))
  assert new_model.num_classes == 3
  chex.assert_shape(new_variables["params"]["fc"]["kernel"], (16, 3))
  for collection in ("params", "batch_stats"):
    kept = {k: v for k, v in new_variables[collection].items() if k != "fc"}
    chex.assert_trees_all_equal(kept, {k: v for k, v in variables[collection].items() if k != "fc"})
  logits = new_model.apply(new_variables, jnp.ones((2, 16, 16, 3)))
  chex.assert_shape(logits, (2, 3))


def test_frozen_backbone_gets_no_update_and_the_head_gets_plain_sgd(pretrained):
  _, variables = pretrained
  params = variables["params"]
  grads = jax.tree.map(jnp.ones_like, params)
  tx = finetune.finetune_optimizer(params, optax.sgd(0.1), None, head=["fc"])
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  chex.assert_trees_all_equal(new["conv1"], params["conv1"])
  chex.assert_trees_all_equal(new["layer2_0"], params["layer2_0"])
  chex.assert_trees_all_close(new["fc"]["kernel"], params["fc"]["kernel"] - 0.1)


def test_lower_backbone_learning_rate(pretrained):
  _, variables = pretrained
  params = variables["params"]
  grads = jax.tree.map(lambda p: jnp.full_like(p, 2.0), params)
  tx = finetune.finetune_optimizer(params, optax.sgd(0.1), optax.sgd(0.01), head=["fc"])
  new = optax.apply_updates(params, tx.update(grads, tx.init(params), params)[0])
  chex.assert_trees_all_close(new["layer1_0"]["conv1"]["kernel"], params["layer1_0"]["conv1"]["kernel"] - 0.02)
  chex.assert_trees_all_close(new["fc"]["bias"], params["fc"]["bias"] - 0.2)


def test_labels_follow_paths_and_unknown_heads_are_named(pretrained):
  _, variables = pretrained
  labels = finetune.label_params(variables["params"], [("layer2_", "late"), ("fc/", "head")], "early")
  assert labels["fc"]["bias"] == "head" and labels["layer2_0"]["bn1"]["scale"] == "late"
  assert labels["bn1"]["scale"] == "early"
  assert np.unique(jax.tree.leaves(labels)).tolist() == ["early", "head", "late"]
  message = r"no parameter belongs to head \['classifier'\]; top-level modules: bn1,"
  with pytest.raises(ValueError, match=message):
    finetune.finetune_optimizer(variables["params"], optax.sgd(0.1), head=["classifier"])


def test_scaled_backbone_optimizer_follows_the_schedule(pretrained):
  _, variables = pretrained
  params = variables["params"]
  grads = jax.tree.map(jnp.ones_like, params)
  schedule = lambda step: 0.5 / (step + 1)
  tx = finetune.scaled_backbone_optimizer(optax.sgd, schedule, 0.1, params, head=["fc"])
  state = tx.init(params)
  for step in range(2):  # Steps 0 and 1: rates 0.5 and 0.25 for the head, a tenth of that for the backbone.
    updates, state = tx.update(grads, state, params)
    chex.assert_trees_all_close(updates["fc"]["bias"], -schedule(step) * jnp.ones(10))
    chex.assert_trees_all_close(updates["bn1"]["scale"], -0.1 * schedule(step) * jnp.ones(8))
  frozen = finetune.scaled_backbone_optimizer(optax.sgd, schedule, 0.0, params, head=["fc"])
  updates, _ = frozen.update(grads, frozen.init(params), params)
  assert not any(jnp.any(u != 0) for u in jax.tree.leaves({k: v for k, v in updates.items() if k != "fc"}))
  with pytest.raises(ValueError, match="backbone_lr_multiplier must be >= 0, got -1"):
    finetune.scaled_backbone_optimizer(optax.sgd, schedule, -1, params, head=["fc"])


def test_import_checkpoint_takes_the_run_and_keeps_new_modules(tmp_path):
  from jvision import checkpointing
  saved = {"params": {"body": {"w": np.full((2, 3), 7.0, np.float32)}},
           "model_state": {"batch_stats": {"body": {"mean": np.arange(3, dtype=np.float32)}}}, "step": 5}
  checkpointer = checkpointing.Checkpointer(str(tmp_path / "checkpoints"), every_steps=1, keep=1, use_async=False)
  checkpointer.save(5, saved, {})
  checkpointer.close()
  fresh = {"params": {"body": {"w": jnp.zeros((2, 3))}, "mask_branch": {"w": jnp.ones((4,))}},
           "batch_stats": {"body": {"mean": jnp.zeros(3)}}}
  variables = finetune.import_checkpoint(str(tmp_path), fresh, new_modules=("mask_branch",))
  np.testing.assert_array_equal(variables["params"]["body"]["w"], np.full((2, 3), 7.0))
  np.testing.assert_array_equal(variables["batch_stats"]["body"]["mean"], [0, 1, 2])
  np.testing.assert_array_equal(variables["params"]["mask_branch"]["w"], np.ones(4))
  with pytest.raises(KeyError, match="params/mask_branch/w"):  # Not declared new: the checkpoint must have it.
    finetune.import_checkpoint(str(tmp_path), fresh)
  with pytest.raises(ValueError, match="shape mismatch for params/body/w"):
    finetune.import_checkpoint(str(tmp_path), {**fresh, "params": {**fresh["params"], "body": {"w": jnp.zeros(2)}}},
                               new_modules=("mask_branch",))
  with pytest.raises(FileNotFoundError, match="no checkpoint"):
    finetune.import_checkpoint(str(tmp_path / "elsewhere"), fresh)
