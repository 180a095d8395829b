"""FLOPs of a compiled program, the peak FLOP/s of a device, and model FLOPs utilization (MFU).

MFU is the fraction of the hardware's peak arithmetic rate that a training step achieves (PaLM, Chowdhery et
al. 2022, appendix B): ``flops_per_step / step_seconds / peak_flops_per_second``. Here the FLOPs are XLA's own
count for the compiled step (``compiled.cost_analysis()["flops"]``): a matmul ``[M, K] x [K, N]`` is
``2 M N K``, a convolution twice its multiply-adds over the unpadded taps, every elementwise op one FLOP per
element. For an SPMD program the count is per device. XLA's count is of the program it runs, so it includes
the optimizer update and any recomputation; it is the "hardware FLOPs" flavour of MFU, within a few percent of
the model FLOPs of a convolutional or transformer network, whose matmuls dominate.

Peaks are dense (no structured sparsity) vendor figures. On a CPU the peak is estimated from
``/proc/cpuinfo``: ``cores x clock x FLOPs/cycle/core`` (``cpu_peak_flops``).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Mapping, Optional, Sequence

# Dense peak TFLOP/s by device kind (a substring of ``jax.devices()[0].device_kind``, matched in order, case
# insensitive) and compute dtype. fp32 is the vector-unit rate without TF32 tensor cores: JAX's default matmul
# precision lets XLA use TF32 on A100/H100 (156/495 TFLOP/s), so fp32 MFU on those GPUs can exceed what the
# fp32 column suggests. A TPU multiplies float32 matrices with bf16 passes; no fp32 peak is listed for it.
PEAK_TFLOPS: Sequence[tuple[str, Mapping[str, float]]] = (
    ("h100 pcie", {"bfloat16": 756.0, "float32": 51.0}),
    ("h100", {"bfloat16": 989.0, "float32": 67.0}),  # SXM
    ("h200", {"bfloat16": 989.0, "float32": 67.0}),
    ("a100", {"bfloat16": 312.0, "float32": 19.5}),
    ("tpu v4", {"bfloat16": 275.0}),
    ("tpu v5 lite", {"bfloat16": 197.0}),  # v5e
    ("tpu v5e", {"bfloat16": 197.0}),
    ("tpu v5p", {"bfloat16": 459.0}),
    ("tpu v6 lite", {"bfloat16": 918.0}),  # v6e (Trillium)
)


def flops_from_cost_analysis(cost: Any) -> float:
  """The ``"flops"`` of ``compiled.cost_analysis()``: a dict (recent JAX) or a list of one dict per program
  (older JAX)."""
  if isinstance(cost, (list, tuple)):
    if not cost:
      raise ValueError("cost analysis is empty")
    return float(sum(flops_from_cost_analysis(c) for c in cost))
  if not cost or "flops" not in cost:
    raise ValueError(f"cost analysis has no 'flops' entry (this backend may not report it): {cost!r}")
  return float(cost["flops"])


def compiled_flops(compiled: Any) -> float:
  """FLOPs of one call of a compiled program (``jax.jit(f).lower(...).compile()``), per device."""
  return flops_from_cost_analysis(compiled.cost_analysis())


def mfu(flops_per_step: float, step_seconds: float, peak_flops_per_second: float) -> float:
  """Model FLOPs utilization in [0, 1]: achieved FLOP/s over the peak (both per device, or both in total)."""
  if step_seconds <= 0 or peak_flops_per_second <= 0:
    raise ValueError(f"step time and peak must be positive; got {step_seconds} s, {peak_flops_per_second} FLOP/s")
  return flops_per_step / step_seconds / peak_flops_per_second


def accelerator_peak_flops(device_kind: str, dtype: str) -> Optional[float]:
  """Dense peak FLOP/s of one ``device_kind`` device computing in ``dtype``; None when not in the table."""
  kind = device_kind.lower()
  for key, peaks in PEAK_TFLOPS:
    if key in kind:
      return peaks[dtype] * 1e12 if dtype in peaks else None
  return None


def cpu_flops_per_cycle(flags: set[str], dtype: str) -> int:
  """fp32 FLOPs per cycle per core: one fused multiply-add (2 FLOPs) per lane of the widest vector unit per
  cycle, i.e. 32 with AVX-512 (16 lanes), 16 with AVX2 + FMA (8 lanes), 8 with SSE (4 lanes, multiply and add
  issued separately). bfloat16: twice that where AVX512_BF16's pairwise dot product exists, else the fp32
  rate. Cores with two full-width FMA units per cycle (many Xeons) reach twice this: pass the peak instead."""
  if "avx512f" in flags:
    per_cycle = 32
  elif "avx2" in flags and "fma" in flags:
    per_cycle = 16
  else:
    per_cycle = 8
  if dtype == "bfloat16" and "avx512_bf16" in flags:
    per_cycle *= 2
  return per_cycle


def parse_cpuinfo(text: str) -> tuple[float, set[str], int]:
  """``(clock_hz, flags, threads_per_core)`` from the text of ``/proc/cpuinfo`` (the fastest CPU's clock)."""
  mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.MULTILINE)]
  flags_line = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
  cores = re.search(r"^cpu cores\s*:\s*(\d+)", text, re.MULTILINE)
  siblings = re.search(r"^siblings\s*:\s*(\d+)", text, re.MULTILINE)
  if not mhz or flags_line is None:
    raise ValueError("cannot find 'cpu MHz' and 'flags' in the cpuinfo text")
  threads_per_core = int(siblings.group(1)) // int(cores.group(1)) if cores and siblings else 1
  return max(mhz) * 1e6, set(flags_line.group(1).split()), max(threads_per_core, 1)


def cpu_peak_flops(cpuinfo: str, logical_cpus: int, dtype: str) -> tuple[float, str]:
  """``(peak FLOP/s, the formula with its numbers)`` of ``logical_cpus`` CPUs described by ``cpuinfo``.

  ``peak = cores x clock x FLOPs/cycle/core`` with ``cores = logical_cpus / threads per core`` (hyperthreads
  share one core's vector units) and the clock of ``cpu MHz`` (the current, possibly turbo or throttled,
  frequency: the only one a VM shows).
  """
  clock_hz, flags, threads_per_core = parse_cpuinfo(cpuinfo)
  cores = max(logical_cpus // threads_per_core, 1)
  per_cycle = cpu_flops_per_cycle(flags, dtype)
  peak = cores * clock_hz * per_cycle
  formula = (f"{cores} cores x {clock_hz / 1e9:.2f} GHz x {per_cycle} {dtype} FLOPs/cycle/core "
             f"= {peak / 1e9:.0f} GFLOP/s")
  return peak, formula


def this_cpu_peak_flops(dtype: str) -> tuple[float, str]:
  """``cpu_peak_flops`` of the CPUs this process may run on (Linux)."""
  with open("/proc/cpuinfo") as f:
    cpuinfo = f.read()
  return cpu_peak_flops(cpuinfo, len(os.sched_getaffinity(0)), dtype)


def time_steps(step: Any, state: Any, batch: Any, steps: int, warmup_steps: int = 1) -> tuple[Any, Any, float]:
  """Runs ``state, metrics = step(state, batch)`` ``warmup_steps`` then ``steps`` times; returns the last
  ``(state, metrics)`` and the seconds per timed step (warm-up excluded, device work awaited)."""
  import jax  # Only the timing needs JAX; the FLOP arithmetic above does not.
  for _ in range(warmup_steps):
    state, metrics = step(state, batch)
  jax.block_until_ready((state, metrics))
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, batch)
  jax.block_until_ready((state, metrics))
  return state, metrics, (time.perf_counter() - start) / steps
