"""XrayDataset operations against numpy re-derivations."""

import numpy as np
import pytest

from jvision.xray import dataset as xd

NAN = np.nan


def make(name="a", n=6, pathologies=("Effusion", "Nodule"), seed=0, patients=None):
  rng = np.random.default_rng(seed)
  labels = rng.choice([1.0, 0.0, -1.0, NAN], size=(n, len(pathologies)))
  return xd.XrayDataset(name=name, pathologies=pathologies, labels=labels,
                        image_ids=[f"{name}{i}.png" for i in range(n)],
                        patient_ids=patients if patients is not None else [str(i // 2) for i in range(n)],
                        views=(["PA", "AP", "L"] * n)[:n], image_dir=f"/{name}")


def test_relabel_rename_subset_filter():
  d = make()
  r = d.relabel(("Nodule", "Hernia", "Effusion"))
  np.testing.assert_array_equal(r.labels[:, 0], d.labels[:, 1])
  np.testing.assert_array_equal(r.labels[:, 2], d.labels[:, 0])
  assert np.isnan(r.labels[:, 1]).all()
  assert d.rename({"Effusion": "Pleural Effusion"}).pathologies == ("Pleural Effusion", "Nodule")
  with pytest.raises(KeyError, match="Efusion"):
    d.rename({"Efusion": "x"})
  s = d.subset([4, 1])
  np.testing.assert_array_equal(s.image_ids, ["a4.png", "a1.png"])
  np.testing.assert_array_equal(s.labels, d.labels[[4, 1]])
  np.testing.assert_array_equal(d.filter_views(["PA", "AP"]).image_ids, ["a0.png", "a1.png", "a3.png", "a4.png"])
  labelled = d.filter_labelled("Nodule")
  assert len(labelled) == int((~np.isnan(d.labels[:, 1])).sum())
  with pytest.raises(ValueError, match="unknown views.*lateral"):
    d.filter_views(["LATERAL"])
  with pytest.raises(KeyError, match="unknown pathology 'Hernia'"):
    d.filter_labelled("Hernia")


def test_invalid_labels_and_views_are_errors():
  with pytest.raises(ValueError, match="labels must be"):
    xd.XrayDataset("x", ("A",), np.array([[0.5]]), ["i"], ["p"], ["PA"])
  with pytest.raises(ValueError, match="unknown views"):
    xd.XrayDataset("x", ("A",), np.array([[1.0]]), ["i"], ["p"], ["frontal"])
  with pytest.raises(ValueError, match="patient_ids has 2"):
    xd.XrayDataset("x", ("A",), np.array([[1.0]]), ["i"], ["p", "q"], ["PA"])


def test_label_statistics_match_numpy():
  d = make(n=40, seed=3)
  for j, pathology in enumerate(d.pathologies):
    column = d.labels[:, j]
    assert d.label_statistics()[pathology] == {
        "positive": int(np.sum(column == 1)), "negative": int(np.sum(column == 0)),
        "uncertain": int(np.sum(column == -1)), "unlabelled": int(np.sum(np.isnan(column)))}
  assert "40 images, 20 patients" in d.format_statistics()


def test_merge_onto_union_of_pathologies():
  a, b = make("a", 4, ("Effusion",)), make("b", 3, ("Nodule", "Effusion"), seed=1)
  m = xd.merge([a, b])
  assert m.pathologies == ("Effusion", "Nodule") and len(m) == 7
  np.testing.assert_array_equal(m.labels[:4, 0], a.labels[:, 0])
  assert np.isnan(m.labels[:4, 1]).all()
  np.testing.assert_array_equal(m.labels[4:], b.labels[:, [1, 0]])
  np.testing.assert_array_equal(m.sources, ["a"] * 4 + ["b"] * 3)
  assert m.image_path(5) == "/b/b1.png"  # Different image_dirs: ids made absolute.


def test_patient_split_keeps_patients_apart_per_source():
  a = make("a", 30, patients=[str(i % 10) for i in range(30)])
  b = make("b", 8, patients=[str(i % 4) for i in range(8)])  # Same patient ids, different people.
  train, test = xd.patient_split(xd.merge([a, b]), test_fraction=0.25, seed=0)
  assert len(train) + len(test) == 38
  key = lambda d: set(zip(d.sources, d.patient_ids))
  assert not key(train) & key(test)
  assert len(key(test)) == round(0.25 * 14)
  assert sorted(np.concatenate([train.image_ids, test.image_ids])) == sorted(xd.merge([a, b]).image_ids)
  with pytest.raises(ValueError, match="test_fraction"):
    xd.patient_split(a, 1.0)
