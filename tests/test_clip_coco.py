"""experiments/clip_coco.py end to end on mock coco_captions: the trainer hands the task its 8-device mesh,
trains two steps with the sharded loss and evaluates retrieval recall."""

import gzip
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jvision import config as config_lib, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_MODEL = dict(name="clip", embed_dim=8, vision_layers=1, vision_width=16, vision_patch_size=8, vision_heads=2,
                  text_width=16, text_heads=2, text_layers=1)


@pytest.mark.heavy
def test_clip_coco_pipeline_on_mock_data(tmp_path):
  merges = tmp_path / "merges.txt.gz"
  with gzip.open(merges, "wt") as f:
    f.write("#version: 0.2\nt h\nth e</w>\na </w>\n")
  overrides = [f"task.merges_path={merges}", "task.image_size=16", "task.context_length=8", "task.vocab_size=520",
               "batch_size=16", "eval_batch_size=16", "total_steps=2", "schedule.warmup_steps=1",
               "log_every_steps=1", "eval_every_steps=2", "checkpoint_every_steps=2", "async_checkpoints=false",
               ]
  config = config_lib.load_config(os.path.join(REPO, "experiments", "clip_coco.py"), overrides)
  with config.unlocked():
    config.model.update(TINY_MODEL)
  with tfds.testing.mock_data(num_examples=16):
    exp = train.build_experiment(config)
    assert exp.task.mesh is exp.mesh and exp.mesh.size == 8
    summary = train.train_and_evaluate(config, str(tmp_path / "run"), progress=False)
  assert summary["step"] == 2
  for key in ("image_to_text_recall@1", "image_to_text_recall@5", "text_to_image_recall@5"):
    assert 0.0 <= summary[f"eval/{key}"] <= 1.0
  # 16 random images: recall@5 over at most 16 candidates is at least 5/16 for image->text.
  assert summary["eval/image_to_text_recall@5"] >= 5 / 16 - 1e-6
  assert np.isfinite(summary["train_seconds"])
