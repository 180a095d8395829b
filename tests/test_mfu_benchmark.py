"""experiments/benchmarks/mfu.py: the printed row is the traced step's model FLOPs over the step time and peak."""

import runpy
import sys

import jax
import pytest

SCRIPT = "experiments/benchmarks/mfu.py"


def _run(monkeypatch, capsys, *argv):
  monkeypatch.setattr(sys, "argv", [SCRIPT, *argv])
  runpy.run_path(SCRIPT, run_name="__main__")
  return capsys.readouterr().out


def test_step_ms_prints_model_flops_over_given_time_and_peak(monkeypatch, capsys):
  # ResNet-50 at 64 px: 4.09 GMACs x (64/224)^2 per image forward, about 3x that per training step; batch 8
  # (one image per device of the 8 fake CPUs). At 64 px every kernel tap reads the image somewhere; at 32 px
  # the 1x1 maps of the last stage have their padding-only taps left out of the product (jvision.ops.conv).
  out = _run(monkeypatch, capsys, "--models", "resnet50", "--dtypes", "float32", "--batch_size", "8",
             "--image_size", "64", "--step_ms", "100", "--peak_tflops", "0.01")
  row = [line for line in out.splitlines() if line.startswith("| resnet50 |")]
  assert len(row) == 1, out
  cells = [c.strip() for c in row[0].strip("|").split("|")]
  gflops, compiled, step_ms = float(cells[4]), cells[5], float(cells[6])
  images_per_s, tflops, mfu = float(cells[7]), float(cells[8]), float(cells[9])
  expected = 8 * 3 * 2 * 4.09 * (64 / 224) ** 2  # 8 images x 3 passes x 2 FLOPs per MAC
  assert gflops == pytest.approx(expected, rel=0.05)
  assert compiled == "-" and step_ms == 100.0  # Traced only: nothing compiled or timed.
  assert images_per_s == 80  # 8 images per 0.1 s
  assert tflops == pytest.approx(gflops / 1e3 / 0.1, abs=1e-3)
  per_device = gflops * 1e9 / len(jax.devices())  # The peak is per device.
  assert mfu == pytest.approx(100 * per_device / 0.1 / 0.01e12, rel=0.01)


@pytest.mark.parametrize("argv, message", [
    (["--models", "resnet50,vit_b16", "--step_ms", "10", "--peak_tflops", "1"], "one model and one dtype"),
    (["--models", "resnet50", "--dtypes", "float32", "--step_ms", "nan", "--peak_tflops", "1"], "must be finite"),
    (["--models", "resnet50", "--dtypes", "float32", "--step_ms", "10"], "needs --peak_tflops"),
])
def test_step_ms_misuse_is_a_clear_error(monkeypatch, capsys, argv, message):
  with pytest.raises(SystemExit):
    _run(monkeypatch, capsys, *argv)
  assert message in capsys.readouterr().err
