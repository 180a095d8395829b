"""The detect CLI: face_recognition's ``file,top,right,bottom,left`` lines, boxes equal to the API's."""

import contextlib
import io

import numpy as np
import PIL.Image
import pytest

import jvision.face as jf
from jvision.face import detect


def test_prints_one_line_per_face(tmp_path, lfw_photos, models_dir):
  for i, photo in enumerate(lfw_photos[:2]):
    PIL.Image.fromarray(photo).save(tmp_path / f"p{i}.png")
  PIL.Image.fromarray(np.full((240, 240, 3), 90, np.uint8)).save(tmp_path / "empty.jpg")
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert detect.main([str(tmp_path), "--batch-size", "1"]) == 0
  expected = [f"{tmp_path}/p{i},{','.join(map(str, jf.face_locations(lfw_photos[i], 0)[0]))}" for i in range(2)]
  assert out.getvalue().splitlines() == [e.replace(f"/p{i},", f"/p{i}.png,") for i, e in enumerate(expected)]


def test_missing_path_is_a_clear_error(tmp_path):
  with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()) as err:
    detect.main([str(tmp_path / "nope")])
  assert "not found" in err.getvalue()
