"""Shape predictors: a hand-built model against a plain-loop numpy re-derivation, and dlib's real models."""

import numpy as np
import pytest

from jvision.face import shape_predictor as sp

C, T, S, L, P = 2, 3, 3, 3, 4  # cascades, trees per cascade, splits per tree (depth 2), landmarks, pixels.


def _q(x):
  return np.round(np.asarray(x) * 64) / 64  # Values exactly representable in float32 and in the file.


@pytest.fixture
def tiny_model(writer):
  w, rng = writer, np.random.default_rng(1)
  initial = _q(rng.uniform(0.2, 0.8, (L, 2)))
  idx1, idx2 = rng.integers(0, P, (C, T, S)), rng.integers(0, P, (C, T, S))
  thresh = _q(rng.uniform(-40, 40, (C, T, S)))
  leaves = _q(rng.uniform(-0.05, 0.05, (C, T, S + 1, L, 2)))
  anchor, deltas = rng.integers(0, L, (C, P)), _q(rng.uniform(-0.3, 0.3, (C, P, 2)))

  def column(values):
    return w.int(-values.size) + w.int(-1) + b"".join(w.float(v) for v in values.reshape(-1))

  data = w.int(1) + column(initial) + w.int(C)
  for c in range(C):
    data += w.int(T)
    for t in range(T):
      data += w.int(S) + b"".join(w.int(idx1[c, t, s]) + w.int(idx2[c, t, s]) + w.float(thresh[c, t, s])
                                  for s in range(S))
      data += w.int(S + 1) + b"".join(column(leaves[c, t, k]) for k in range(S + 1))
  data += w.int(C) + b"".join(w.int(P) + b"".join(w.int(a) for a in anchor[c]) for c in range(C))
  data += w.int(C) + b"".join(w.int(P) + b"".join(w.float(x) + w.float(y) for x, y in deltas[c]) for c in range(C))
  return data, dict(initial=initial, idx1=idx1, idx2=idx2, thresh=thresh, leaves=leaves, anchor=anchor,
                    deltas=deltas)


def _reference(m, image, box):
  """Kazemi & Sullivan's cascade, one tree and one pixel at a time (float64)."""
  gray = image.astype(np.int64).sum(-1) // 3
  left, top, right, bottom = box
  to_image = lambda q: np.array([left + q[0] * (right - left), top + q[1] * (bottom - top)])
  shape = m["initial"].astype(np.float64).copy()
  for c in range(C):
    # Least-squares similarity from the mean shape to the current one (Umeyama via SVD).
    a = m["initial"] - m["initial"].mean(0)
    b = shape - shape.mean(0)
    u, d, vt = np.linalg.svd(b.T @ a / L)
    transform = (u @ vt) * d.sum() / ((a * a).sum() / L)
    values = []
    for i in range(P):
      x, y = np.floor(to_image(transform @ m["deltas"][c, i] + shape[m["anchor"][c, i]]) + 0.5).astype(int)
      inside = 0 <= x < image.shape[1] and 0 <= y < image.shape[0]
      values.append(float(gray[y, x]) if inside else 0.0)
    update = np.zeros_like(shape)
    for t in range(T):
      node = 0
      while node < S:
        go_left = values[m["idx1"][c, t, node]] - values[m["idx2"][c, t, node]] > m["thresh"][c, t, node]
        node = 2 * node + 1 if go_left else 2 * node + 2
      update += m["leaves"][c, t, node - S]
    shape += update
  return np.stack([to_image(q) for q in shape])


def test_parses_and_predicts_like_a_plain_loop(tiny_model):
  data, m = tiny_model
  model = sp.parse_shape_predictor(data, "tiny")
  np.testing.assert_array_equal(model.split_idx1, m["idx1"])
  np.testing.assert_array_equal(model.leaves, m["leaves"])
  np.testing.assert_array_equal(model.deltas, m["deltas"])
  image = np.random.default_rng(2).integers(0, 256, (60, 80, 3)).astype(np.uint8)
  boxes = np.array([[10, 5, 50, 45], [30, 20, 75, 58], [-10, -12, 20, 18]])  # The last one is partly outside.
  got = sp.predict_landmarks(model, image, boxes)
  assert got.shape == (3, L, 2)
  for box, points in zip(boxes, got):
    np.testing.assert_allclose(points, _reference(m, image, box), atol=1e-3)


def test_corrupt_file_raises(tiny_model):
  with pytest.raises(ValueError, match="shape predictor"):
    sp.parse_shape_predictor(tiny_model[0][:-3], "cut")


@pytest.mark.parametrize("name", ["shape_predictor_5_face_landmarks.dat", "shape_predictor_68_face_landmarks.dat"])
def test_landmarks_equal_dlibs(name, models_dir, dlib, astronaut):
  model = sp.load_shape_predictor(f"{models_dir}/{name}")
  reference = dlib.shape_predictor(f"{models_dir}/{name}")
  boxes = [(170, 60, 280, 170), (160, 50, 300, 190), (-20, -10, 120, 130)]
  ours = np.floor(sp.predict_landmarks(model, astronaut, np.array(boxes)) + 0.5)
  for box, points in zip(boxes, ours):
    theirs = np.array([(p.x, p.y) for p in reference(astronaut, dlib.rectangle(*box)).parts()])
    assert np.abs(points - theirs).max() <= 1  # Required: within 1 px; in practice identical.
    assert (points == theirs).mean() > 0.99
