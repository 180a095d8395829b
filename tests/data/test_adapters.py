"""Tests for jvision/data/adapters.py over tfds.testing.mock_data sources and a tiny shapes build.

Raw mock examples (see ``mock_sources`` in conftest.py) exercise the adapters' errors; repaired ones the
format.
"""

import numpy as np
import pytest

from jvision.data import adapters
from jvision.data import box_transforms
from jvision.data import shapes_scenes

DETECTION_DATASETS = ["voc/2007", "voc/2012", "coco/2017", "coco_captions"]


@pytest.mark.parametrize("name", DETECTION_DATASETS)
def test_raw_mock_examples_with_inconsistent_objects_are_rejected(name, mock_sources):
  source, _ = mock_sources(name)
  with pytest.raises(ValueError, match="objects fields have different lengths"):
    adapters.get_adapter(name)(source[0], 0)


@pytest.mark.parametrize("name", DETECTION_DATASETS)
def test_detection_adapters_convert_boxes_labels_and_ids(name, mock_sources):
  _, source = mock_sources(name)
  for index in range(len(source)):
    raw = source[index]
    out = adapters.get_adapter(name)(raw, index)
    height, width = raw["image"].shape[:2]
    bbox = raw["objects"]["bbox"]
    expected = np.stack([bbox[:, 1] * width, bbox[:, 0] * height, bbox[:, 3] * width, bbox[:, 2] * height], -1)
    np.testing.assert_allclose(out["boxes"], expected, rtol=1e-6)
    np.testing.assert_array_equal(out["labels"], raw["objects"]["label"])
    assert out["labels"].dtype == np.int32 and out["boxes"].dtype == np.float32
    assert out["image"].shape == (height, width, 3)
    crowd_key = "is_difficult" if name.startswith("voc") else "is_crowd"
    np.testing.assert_array_equal(out["is_crowd"], raw["objects"][crowd_key])
    if name.startswith("coco"):
      assert out["image_id"] == raw["image/id"]
    else:
      assert out["image_id"] == index  # Mock file names have no digits.
    if name == "coco_captions":
      assert out["captions"] == [t.decode() if isinstance(t, bytes) else t for t in raw["captions"]["text"]]
    box_transforms.validate(out)


@pytest.mark.parametrize("name", ["voc/2007", "coco/2017"])
def test_datasets_without_masks_say_so(name, mock_sources):
  raw = mock_sources(name, 1)[1][0]
  with pytest.raises(ValueError, match="has no segmentation masks"):
    adapters.get_adapter(name)(raw, 0, with_segmentation=True)
  with pytest.raises(ValueError, match="has no instance masks"):
    adapters.get_adapter(name)(raw, 0, with_masks=True)


def test_coco_panoptic_masks_and_segmentation_from_segment_ids(mock_sources):
  raw_source, source = mock_sources("coco/2017_panoptic")
  with pytest.raises(ValueError, match="objects fields have different lengths"):
    adapters.get_adapter("coco/2017_panoptic")(raw_source[0], 0)
  for index in range(len(source)):
    raw = source[index]
    out = adapters.get_adapter("coco/2017_panoptic")(raw, index, with_masks=True, with_segmentation=True)
    panoptic = raw["panoptic_image"].astype(np.int64)
    segment_ids = panoptic[..., 0] + 256 * panoptic[..., 1] + 65536 * panoptic[..., 2]
    objects = raw["panoptic_objects"]
    expected_segmentation = np.full(segment_ids.shape, 255)
    for k, segment_id in enumerate(objects["id"]):
      np.testing.assert_array_equal(out["instance_masks"][k], segment_ids == segment_id)
      expected_segmentation[segment_ids == segment_id] = objects["label"][k] + 1
    np.testing.assert_array_equal(out["segmentation"], expected_segmentation)
    assert out["image_id"] == raw["image/id"]
    box_transforms.validate(out)
  # A hand-made 2x3 picture: segment 258 = (2, 1, 0) on the left column, void elsewhere.
  panoptic = np.zeros((2, 3, 3), np.uint8)
  panoptic[:, 0] = (2, 1, 0)
  raw = {"image": np.zeros((2, 3, 3), np.uint8), "image/id": 5, "panoptic_image": panoptic,
         "panoptic_objects": {"bbox": np.array([[0, 0, 1, 1 / 3]], np.float32), "label": np.array([7]),
                              "is_crowd": np.array([False]), "id": np.array([258])}}
  out = adapters.adapt_coco_panoptic(raw, 0, with_masks=True, with_segmentation=True)
  np.testing.assert_array_equal(out["segmentation"], [[8, 255, 255], [8, 255, 255]])
  np.testing.assert_array_equal(out["boxes"], [[0, 0, 1, 2]])
  raw["panoptic_image"] = panoptic[:1]
  with pytest.raises(ValueError, match="panoptic image is"):
    adapters.adapt_coco_panoptic(raw, 0, with_segmentation=True)


def test_oxford_iiit_pet_trimap_to_segmentation_and_box(mock_sources):
  raw_source, source = mock_sources("oxford_iiit_pet")
  with pytest.raises(ValueError, match="segmentation mask is"):
    adapters.adapt_oxford_iiit_pet(raw_source[0], 0, with_segmentation=True)
  for index in range(len(source)):
    raw = source[index]
    out = adapters.adapt_oxford_iiit_pet(raw, index, with_masks=True, with_segmentation=True)
    trimap = raw["segmentation_mask"][..., 0]
    expected = np.where(trimap == 1, 1, np.where(trimap == 2, 0, 255))
    np.testing.assert_array_equal(out["segmentation"], expected)
    rows, cols = np.nonzero(trimap != 2)
    np.testing.assert_array_equal(out["boxes"], [[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]])
    np.testing.assert_array_equal(out["labels"], [raw["label"]])
    np.testing.assert_array_equal(out["instance_masks"][0], trimap != 2)
    breeds = adapters.adapt_oxford_iiit_pet(raw, index, with_segmentation=True, breed_classes=True)
    assert set(np.unique(breeds["segmentation"])) <= {0, raw["label"] + 1, 255}


def test_shapes_adapter_on_a_real_build(tiny_shapes_builder):
  source = tiny_shapes_builder.as_data_source("train")
  raw = source[5]
  out = adapters.adapt_shapes(raw, 5, with_masks=True, with_segmentation=True)
  np.testing.assert_allclose(out["boxes"], box_transforms.boxes_from_masks(out["instance_masks"]), atol=1e-4)
  np.testing.assert_array_equal(out["segmentation"], raw["segmentation_mask"][..., 0])
  assert out["captions"] == [raw["caption"].decode()]
  assert out["image_id"] == raw["image_id"]
  box_transforms.validate(out)


@pytest.mark.parametrize("change, message", [
    (lambda ex: ex["objects"].update(bbox=np.array([[0.1, 0.1, 1.5, 0.5]], np.float32)), "outside the image"),
    (lambda ex: ex["objects"].update(bbox=np.array([[0.6, 0.1, 0.2, 0.5]], np.float32)), "ymax < ymin"),
    (lambda ex: ex["objects"].update(bbox=np.array([[0.1, 0.1, np.nan, 0.5]], np.float32)), "NaN"),
    (lambda ex: ex.update(image=ex["image"].astype(np.float32)), "must be uint8"),
])
def test_corrupt_examples_get_specific_errors(change, message):
  raw = {"image": np.zeros((10, 20, 3), np.uint8), "image/id": 3,
         "objects": {"bbox": np.array([[0.1, 0.1, 0.5, 0.5]], np.float32), "label": np.array([2]),
                     "is_crowd": np.array([False])}}
  assert adapters.adapt_coco(raw, 0)["boxes"].tolist() == [[2.0, 1.0, 10.0, 5.0]]
  change(raw)
  with pytest.raises(ValueError, match=message):
    adapters.adapt_coco(raw, 0)


def test_empty_object_list_is_an_image_without_objects():
  raw = {"image": np.zeros((10, 20, 3), np.uint8), "image/filename": b"000042.jpg",
         "objects": {"bbox": np.zeros((0, 4), np.float32), "label": np.zeros((0,), np.int64),
                     "is_difficult": np.zeros((0,), bool)}}
  out = adapters.adapt_voc(raw, 7)
  assert out["boxes"].shape == (0, 4) and out["labels"].shape == (0,)
  assert out["image_id"] == 42


@pytest.mark.parametrize("name, count, first", [
    # TFDS's coco code knows only the number of classes; the names come with the prepared dataset's info.
    ("voc/2007", 20, "aeroplane"), ("coco/2017", 80, "0"), ("coco/2017_panoptic", 133, "0"),
    ("oxford_iiit_pet", 37, "Abyssinian")])
def test_class_names_from_dataset_info(name, count, first, mock_sources):
  source, _ = mock_sources(name, 1)
  names = adapters.class_names(source.dataset_info)
  assert len(names) == count and names[0] == first


def test_class_names_of_shapes(tiny_shapes_builder):
  assert adapters.class_names(tiny_shapes_builder.info) == list(shapes_scenes.CLASS_NAMES)


def test_unknown_dataset_lists_the_known_ones():
  with pytest.raises(KeyError, match="known: coco, coco/2017_panoptic, coco_captions"):
    adapters.get_adapter("imagenet2012")
