"""The recognize CLI: face_recognition's output lines, names compared with face_recognition's own CLI."""

import contextlib
import io

import numpy as np
import PIL.Image
import pytest

from jvision.face import recognize


@pytest.fixture(scope="module")
def folders(tmp_path_factory, lfw_photos):
  known, unknown = tmp_path_factory.mktemp("known"), tmp_path_factory.mktemp("unknown")
  PIL.Image.fromarray(lfw_photos[0]).save(known / "first.png")
  PIL.Image.fromarray(lfw_photos[1]).save(known / "second.png")
  PIL.Image.fromarray(lfw_photos[0][:, ::-1]).save(unknown / "a_first_mirrored.png")
  PIL.Image.fromarray(lfw_photos[2]).save(unknown / "b_stranger.png")
  PIL.Image.fromarray(np.full((240, 240, 3), 90, np.uint8)).save(unknown / "c_empty.png")
  (unknown / "notes.txt").write_text("not an image")
  return known, unknown


def _run(argv):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert recognize.main(argv) == 0
  return out.getvalue().splitlines()


def test_output_lines(folders, models_dir):
  known, unknown = folders
  lines = _run([str(known), str(unknown)])
  assert lines == [f"{unknown}/a_first_mirrored.png,first", f"{unknown}/b_stranger.png,unknown_person",
                   f"{unknown}/c_empty.png,no_persons_found"]
  with_distance = _run([str(known), str(unknown / "a_first_mirrored.png"), "--show-distance", "true"])
  file, name, distance = with_distance[0].split(",")
  assert name == "first" and 0 <= float(distance) <= 0.6
  assert _run([str(known), str(unknown / "a_first_mirrored.png"), "--tolerance", "0.0"]) == [
      f"{unknown}/a_first_mirrored.png,unknown_person"]


def test_names_agree_with_face_recognitions_cli(folders, face_recognition):
  pytest.importorskip("click")
  from face_recognition import face_recognition_cli
  known, unknown = folders
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    face_recognition_cli.main.main([str(known), str(unknown)], standalone_mode=False)
  theirs = sorted(line for line in out.getvalue().splitlines() if not line.startswith("WARNING"))
  assert sorted(_run([str(known), str(unknown)])) == theirs


def test_missing_folder_is_a_clear_error(tmp_path):
  with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()) as err:
    recognize.main([str(tmp_path / "nope"), str(tmp_path)])
  assert "known people folder not found" in err.getvalue()
