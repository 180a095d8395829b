"""Tests for jvision/tasks/two_stage.py: preprocessing (ground truth, jittered-ground-truth stand-in proposals,
batch proposals scaled and flipped with the image), configuration errors, the Faster R-CNN VOC and COCO recipes
on mock records in the TFDS formats (as tests/tasks/test_ssd_voc.py), and both shapes experiments trained for
two steps by the generic trainer on a tiny shapes build (four losses logged, five with Mask R-CNN's mask loss,
COCO/VOC metrics and Mask R-CNN's mask AP, predictions.png)."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision import config as config_lib, evaluate, models, tasks, train
from jvision.data import shapes
from jvision.ops import boxes as box_ops
from jvision.proposals import cache as proposal_cache
from jvision.proposals import source as proposal_source
from jvision.tasks.two_stage import TwoStageDetectionTask

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _raw_example(image_id=7, proposals=None):
  """A raw ``shapes`` record: a 64 px image, two objects (TFDS boxes are normalised ymin, xmin, ymax, xmax)."""
  image = np.full((64, 64, 3), 100, np.uint8)
  raw = {"image": image, "image_id": np.int64(image_id), "caption": b"two shapes",
         "objects": {"bbox": np.array([[0.25, 0.125, 0.5, 0.5], [0.5, 0.5, 1.0, 0.75]], np.float32),
                     "label": np.array([3, 1]), "is_crowd": np.array([False, False])}}
  if proposals is not None:
    raw["proposals"] = proposals
  return raw


def test_registered_and_faster_rcnn_preprocessing():
  task = tasks.get_task("two_stage_detection", family="faster_rcnn", dataset="shapes/multi", num_classes=6,
                        image_size=32, max_objects=3)
  example = task.preprocess_eval(_raw_example())
  assert set(example) == {"image", "boxes", "labels", "valid", "is_crowd", "image_id"}
  # 64 px -> 32 px: pixel boxes halve. Object 0 spans x 8..32, y 16..32 of the 64 px image.
  np.testing.assert_allclose(example["boxes"][:2], [[4, 8, 16, 16], [16, 16, 24, 32]])
  assert example["labels"].tolist() == [3, 1, -1] and example["valid"].tolist() == [True, True, False]


def test_jittered_gt_proposals_are_deterministic_at_evaluation():
  task = TwoStageDetectionTask("fast_rcnn", "shapes/multi", num_classes=6, image_size=32, max_objects=3,
                               proposals="jittered_gt", num_proposals=20)
  first, again = task.preprocess_eval(_raw_example()), task.preprocess_eval(_raw_example())
  assert first["proposals"].shape == (20, 4) and first["proposal_valid"].all()
  np.testing.assert_array_equal(first["proposals"], again["proposals"])
  other = task.preprocess_eval(_raw_example(image_id=8))
  assert not np.array_equal(first["proposals"], other["proposals"])
  iou = np.asarray(box_ops.box_iou(jnp.asarray(first["boxes"][:2]), jnp.asarray(first["proposals"])))
  assert np.all(iou.max(axis=1) >= 0.5)


def test_batch_proposals_are_scaled_padded_and_flipped_with_the_image():
  # Proposals in pixels of the original 64 px image: the two objects exactly, then one zero-area box.
  proposals = np.array([[8, 16, 32, 32], [32, 32, 48, 64], [5, 5, 5, 9]], np.float32)
  task = TwoStageDetectionTask("fast_rcnn", "shapes/multi", num_classes=6, image_size=32, max_objects=3,
                               proposals="batch", num_proposals=4, augment="flip", jitter=False)
  example = task.preprocess_eval(_raw_example(proposals=proposals))
  np.testing.assert_allclose(example["proposals"][:2], example["boxes"][:2])
  assert example["proposal_valid"].tolist() == [True, True, False, False]
  raw = _raw_example(proposals=proposals)
  raw["image"] = np.broadcast_to(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (64, 64, 3)).copy()
  unflipped_image = task.preprocess_eval(raw)["image"]
  flipped = 0
  for seed in range(12):
    example = task.preprocess_train(raw, np.random.default_rng(seed))
    # Whether flipped or not, the boxes and the proposals that were exact stay exact.
    np.testing.assert_allclose(example["proposals"][:2], example["boxes"][:2], atol=1e-5)
    is_flipped = bool(example["boxes"][0, 0] == 16)  # x1 of object 0: 4 unflipped, 32 - 16 = 16 flipped.
    np.testing.assert_allclose(example["image"], unflipped_image[:, ::-1] if is_flipped else unflipped_image,
                               atol=1e-5)
    flipped += is_flipped
  assert 0 < flipped < 12
  with pytest.raises(ValueError, match="needs a 'proposals'"):
    task.preprocess_eval(_raw_example())


@pytest.mark.parametrize("kwargs,match", [
    (dict(family="rcnn"), "unknown two-stage family"),
    (dict(family="fast_rcnn", proposals="selective"), "unknown proposals"),
    (dict(family="fast_rcnn", proposals="batch", augment="ssd"), "augment"),
    (dict(family="faster_rcnn", num_classes=0), "num_classes"),
    (dict(family="fast_rcnn", masks=True), "masks=True"),
])
def test_configuration_errors(kwargs, match):
  options = dict(dataset="shapes/multi", num_classes=6, image_size=32, max_objects=3)
  with pytest.raises(ValueError, match=match):
    TwoStageDetectionTask(**{**options, **kwargs})


def _mock_voc_record(rng, image_id):
  """A record in the ``voc/2007`` TFDS format: a 75 x 100 image and three objects, one of them difficult."""
  corners = np.sort(rng.uniform(0, 1, size=(3, 2, 2)), axis=1)
  return {"image": rng.integers(0, 256, size=(75, 100, 3), dtype=np.uint8),
          "image/filename": f"{image_id:06d}.jpg".encode(),
          "objects": {"bbox": corners.reshape(3, 4).astype(np.float32), "label": np.array([0, 14, 19]),
                      "is_difficult": np.array([False, False, True]), "is_truncated": np.zeros(3, bool),
                      "pose": np.zeros(3, np.int64)}}


def _mock_coco_record(rng, image_id):
  """A record in the ``coco/2017`` TFDS format: a 90 x 60 image and three objects, one of them a crowd."""
  corners = np.sort(rng.uniform(0, 1, size=(3, 2, 2)), axis=1)
  return {"image": rng.integers(0, 256, size=(90, 60, 3), dtype=np.uint8), "image/id": np.int64(image_id),
          "image/filename": f"{image_id:012d}.jpg".encode(),
          "objects": {"bbox": corners.reshape(3, 4).astype(np.float32), "label": np.array([0, 41, 79]),
                      "is_crowd": np.array([False, True, False]), "area": np.ones(3, np.int64),
                      "id": np.arange(3, dtype=np.int64)}}


@pytest.mark.heavy
@pytest.mark.parametrize("experiment,make_record", [("faster_rcnn_voc.py", _mock_voc_record),
                                                    ("faster_rcnn_coco.py", _mock_coco_record)])
def test_recipes_on_mock_records(experiment, make_record):
  # The recipe's model family and FPN at a toy size (ResNet-18, 64 px, few proposals and RoIs).
  config = config_lib.load_config(os.path.join(REPO, "experiments", experiment), [
      "task.image_size=64", "model.backbone=resnet18", "model.fpn_width=16", "model.rpn_width=16",
      "model.head_width=16", "model.rpn_pre_nms_top_n_train=64", "model.rpn_post_nms_top_n_train=32",
      "model.rpn_pre_nms_top_n_test=32", "model.rpn_post_nms_top_n_test=16", "model.roi_samples=16",
      "model.max_detections=10", "model.anchor_scales=(8., 16., 32., 64.)"])
  task = tasks.get_task(config.task.name, **{k: v for k, v in config.task.items() if k != "name"})
  model = models.get_model(config.model.name, **{k: v for k, v in config.model.items() if k != "name"})
  rng = np.random.default_rng(0)
  train_examples = [task.preprocess_train(make_record(rng, i), np.random.default_rng(i)) for i in range(2)]
  eval_examples = [task.preprocess_eval(make_record(rng, 10 + i)) for i in range(2)]
  for example in train_examples:
    assert example["image"].shape == (64, 64, 3)
    assert not np.any(example["is_crowd"][example["valid"]])  # Difficult / crowd objects dropped in training.
  assert int(eval_examples[0]["valid"].sum()) == 3 and int(eval_examples[0]["is_crowd"].sum()) == 1
  stack = lambda examples: {k: jnp.asarray(np.stack([e[k] for e in examples])) for k in examples[0]}
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))
  loss, (metrics, _) = jax.jit(lambda v, b: task.loss(model.apply, v, b, jax.random.PRNGKey(1)))(
      variables, stack(train_examples))
  assert np.isfinite(float(loss))
  for name in ("rpn_objectness_loss", "rpn_box_loss", "classification_loss", "box_loss"):
    assert np.isfinite(float(metrics[name])), name
  batch = stack(eval_examples)
  batch["mask"] = jnp.ones(2, bool)
  outputs = jax.jit(lambda v, b: task.eval_outputs(model.apply, v, b))(variables, batch)
  evaluator = task.make_evaluator()
  evaluator.add(jax.device_get(outputs))
  result = evaluator.result()
  assert 0.0 <= result["VOC07_mAP"] <= 1.0 and 0.0 <= result["AP"] <= 1.0


TINY_RUNS = {
    "faster_rcnn_shapes.py": [
        "model.backbone_widths=(8, 8, 16)", "model.rpn_width=8", "model.head_width=16",
        "model.rpn_pre_nms_top_n_train=64", "model.rpn_post_nms_top_n_train=32", "model.rpn_pre_nms_top_n_test=32",
        "model.rpn_post_nms_top_n_test=16", "model.roi_samples=16", "model.max_detections=20"],
    "mask_rcnn_shapes.py": [
        "model.backbone_widths=(8, 8, 16)", "model.rpn_width=8", "model.head_width=16",
        "model.rpn_pre_nms_top_n_train=64", "model.rpn_post_nms_top_n_train=32", "model.rpn_pre_nms_top_n_test=32",
        "model.rpn_post_nms_top_n_test=16", "model.roi_samples=16", "model.max_detections=20",
        "model.mask_head_width=8", "model.mask_rois_per_image=4"],
    "fast_rcnn_shapes.py": [
        "task.proposals=jittered_gt", "data.proposals.method=none", "task.num_proposals=32",
        "model.backbone_widths=(8, 8, 16)",
        "model.head_width=16", "model.roi_samples=16", "model.max_detections=20"],
}


@pytest.fixture(scope="module")
def tiny_shapes_builder(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("tiny_shapes"))
  config = shapes.ShapesConfig(name="multi_two_stage_tiny", image_size=64, max_objects=4, num_train=16, num_test=6)
  builder = shapes.Shapes(config=config, data_dir=data_dir, file_format="array_record")
  builder.download_and_prepare(file_format="array_record")
  return builder


@pytest.fixture(scope="module")
def tiny_shapes(tiny_shapes_builder):
  return {split: tiny_shapes_builder.as_data_source(split=split) for split in ("train", "test")}


def tiny_data_source(tiny_shapes):
  """Stands in for ``jvision.data.data_source``: ``"train[:N]"`` reads the first N records of the tiny split."""
  def data_source(name, split, data_dir=None):
    name, count = proposal_source.parse_split(split)
    source = tiny_shapes[name]
    return source if count is None else [source[i] for i in range(min(count, len(source)))]
  return data_source


@pytest.mark.heavy
@pytest.mark.parametrize("experiment", sorted(TINY_RUNS))
def test_experiment_trains_two_steps_and_draws_predictions(experiment, tiny_shapes, tmp_path, monkeypatch):
  config = config_lib.load_config(os.path.join(REPO, "experiments", experiment), TINY_RUNS[experiment] + [
      "task.image_size=64", "total_steps=2", "batch_size=8", "eval_batch_size=8", "log_every_steps=1",
      "eval_every_steps=2", "checkpoint_every_steps=2", "schedule.warmup_steps=1", "async_checkpoints=false"])
  monkeypatch.setattr(train.data, "data_source", tiny_data_source(tiny_shapes))
  summary = train.train_and_evaluate(config, str(tmp_path), progress=False, devices=train.jax.devices()[:1])
  assert summary["step"] == 2
  for name in ("AP", "AP50", "VOC_mAP"):
    assert 0.0 <= summary[f"eval/{name}"] <= 1.0, name
  assert os.path.exists(tmp_path / "predictions.png")
  with open(tmp_path / "metrics.jsonl") as f:
    logged = set().union(*(json.loads(line) for line in f))
  expected = {"train/classification_loss", "train/box_loss", "train/loss"}
  if experiment.startswith(("faster", "mask")):
    expected |= {"train/rpn_objectness_loss", "train/rpn_box_loss"}
  if experiment.startswith("mask"):
    expected.add("train/mask_loss")
    for name in ("mask_AP", "mask_AP50", "mask_AR100"):
      assert 0.0 <= summary[f"eval/{name}"] <= 1.0, name
    # jvision.evaluate re-evaluates the checkpoint to the same numbers and redraws predictions.png.
    os.remove(tmp_path / "predictions.png")
    again = evaluate.evaluate_checkpoint(config, str(tmp_path), devices=train.jax.devices()[:1],
                                         picture_dir=str(tmp_path))
    assert os.path.exists(tmp_path / "predictions.png")
    np.testing.assert_allclose(again["eval/mask_AP"], summary["eval/mask_AP"])
  else:
    assert "eval/mask_AP" not in summary
  assert expected <= logged


@pytest.mark.heavy
def test_fast_rcnn_trains_and_evaluates_on_cached_selective_search_proposals(tiny_shapes_builder, tiny_shapes,
                                                                             tmp_path, monkeypatch):
  # The experiment's default: proposals from the selective search caches of train[:12] and test.
  monkeypatch.setattr(proposal_cache, "_builder", lambda dataset, data_dir, prepare=False: tiny_shapes_builder)
  for split, max_examples in (("train", 12), ("test", None)):
    proposal_cache.compute_proposals("shapes/multi", split, max_examples=max_examples, num_workers=0,
                                     progress=False)
  overrides = [o for o in TINY_RUNS["fast_rcnn_shapes.py"] if o.split("=")[0] not in (
      "task.proposals", "data.proposals.method", "task.num_proposals")]
  config = config_lib.load_config(os.path.join(REPO, "experiments", "fast_rcnn_shapes.py"), overrides + [
      "data.train_split=train[:12]", "data.proposals.top_k=24", "task.image_size=64", "total_steps=2",
      "batch_size=4", "eval_batch_size=6", "log_every_steps=1", "eval_every_steps=2", "checkpoint_every_steps=2",
      "schedule.warmup_steps=1", "async_checkpoints=false"])
  assert config.task.proposals == "batch" and config.task.num_proposals == 24
  monkeypatch.setattr(train.data, "data_source", tiny_data_source(tiny_shapes))
  exp = train.build_experiment(config, devices=train.jax.devices()[:1])
  assert len(exp.train_source) == 12 and len(exp.eval_source) == 6
  cached = proposal_cache.load_proposals("shapes/multi", "test")
  raw = exp.eval_source[0]
  boxes, valid = cached.lookup(raw["image_id"])
  np.testing.assert_array_equal(raw["proposals"], boxes[valid][:24])
  assert exp.task.preprocess_eval(raw)["proposal_valid"].sum() == min(24, valid.sum())
  summary = train.train_and_evaluate(config, str(tmp_path), progress=False, devices=train.jax.devices()[:1])
  assert summary["step"] == 2 and 0.0 <= summary["eval/VOC_mAP"] <= 1.0
  # An uncached split names the command that computes it.
  with pytest.raises(FileNotFoundError, match="python -m jvision.proposals --dataset shapes/multi --split train "
                                              ".*--max_examples 16"):
    train.build_experiment(config_lib.load_config(os.path.join(REPO, "experiments", "fast_rcnn_shapes.py"),
                                                  ["data.train_split=train[:16]"]))
