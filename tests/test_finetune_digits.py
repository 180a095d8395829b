"""The fine-tuning experiment end to end at toy size: pretrain, export a .npz, import it, fine-tune and probe."""

import importlib.util
import os

import chex
import numpy as np
import pytest

from jvision import checkpointing, train
from jvision.data import printed_digits
from jvision.models.weights import torchvision

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["total_steps=3", "batch_size=8", "eval_batch_size=8", "log_every_steps=1", "schedule.warmup_steps=1",
        "model.width=8", "async_checkpoints=false"]


def _experiment():
  spec = importlib.util.spec_from_file_location(
      "finetune_digits", os.path.join(REPO, "experiments", "finetune_digits.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def tiny_printed_digits(tmp_path_factory):
  config = printed_digits.PrintedDigitsConfig(name="finetune_tiny", num_train=16, num_test=8)
  builder = printed_digits.PrintedDigits(config=config, data_dir=str(tmp_path_factory.mktemp("printed")),
                                         file_format="array_record")
  builder.download_and_prepare(file_format="array_record")
  return {split: builder.as_data_source(split=split) for split in ("train", "test")}


@pytest.mark.heavy
def test_pretrain_export_import_and_fine_tune_or_probe(tiny_printed_digits, tmp_path, monkeypatch):
  """The driver at toy size; the scratch variant is a plain training run, tested with the trainer."""
  real_source = train.data.data_source

  def data_source(name, split, data_dir=None):
    return tiny_printed_digits[split] if name == "printed_digits" else real_source(name, split, data_dir)

  monkeypatch.setattr(train.data, "data_source", data_source)
  experiment = _experiment()
  run = lambda workdir, **kw: experiment.run(workdir, steps=3, seeds=[0], pretrain_overrides=TINY,
                                             config_overrides=TINY[1:], devices=train.jax.devices()[:1], **kw)
  table, results = run(str(tmp_path), variants=("finetune", "probe"))
  assert table.count("\n") == 3 and "| linear probe (backbone frozen) |" in table
  assert all(0.0 <= accuracy <= 1.0 for runs in results.values() for accuracy, _ in runs)
  # A workdir holds one setting: another source or variant list in it is refused before anything runs.
  with pytest.raises(ValueError, match="use another --workdir"):
    run(str(tmp_path), source="shapes")
  with pytest.raises(ValueError, match="unknown variants"):
    run(str(tmp_path / "other"), variants=("finetune", "distill"))

  # The exported file imports as a user's download would: a width-8 ResNet-18 with the 10 source classes.
  weights = str(tmp_path / "printed_digits_resnet18.npz")
  model, imported = torchvision.import_torchvision("resnet18", weights)
  assert (model.width, model.num_classes) == (8, 10)
  final = {name: checkpointing.load_state(str(tmp_path / f"{name}-seed0" / "checkpoints"), 3)["params"]
           for name in ("probe", "finetune")}
  backbone = lambda params: {k: v for k, v in params.items() if k != "fc"}
  # Linear probe: every backbone parameter is exactly the imported one; the new head has moved.
  chex.assert_trees_all_equal(backbone(final["probe"]), backbone(imported["params"]))
  assert final["probe"]["fc"]["kernel"].shape == (64, 10) and np.any(final["probe"]["fc"]["bias"] != 0)
  # Fine-tuning at 0.1x the rate moves the backbone.
  assert np.any(final["finetune"]["conv1"]["kernel"] != imported["params"]["conv1"]["kernel"])
