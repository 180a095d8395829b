"""FLOPs of a compiled program, the peak FLOP/s of a device, and model FLOPs utilization (MFU).

MFU is the fraction of the hardware's peak arithmetic rate that a training step achieves (PaLM, Chowdhery et
al. 2022, appendix B): ``flops_per_step / step_seconds / peak_flops_per_second``. Two counts are offered.
``compiled_flops`` is XLA's own count for the compiled program (``cost_analysis()["flops"]``, per device for
an SPMD program): a matmul ``[M, K] x [K, N]`` is ``2 M N K``, a convolution twice its multiply-adds over the
unpadded taps, every elementwise op one FLOP per element, optimizer update included. On a GPU it misses the
convolutions that run as cuDNN custom calls (a ResNet-50 step: 106 of 6,221 GFLOPs counted on an H200).
``jaxpr_matmul_flops`` counts twice the multiply-adds of every matmul and convolution in the traced program
(forward and backward), on any backend: the "model FLOPs" that MFU is defined on. The MFU benchmark uses it.

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
  """FLOPs of one call of a compiled program (``jax.jit(f).lower(...).compile()``), per device.

  Only ops XLA itself emits are counted: on a GPU, convolutions (and some matmuls) become cuDNN/cuBLAS
  custom calls that the compiled count leaves out. ``jaxpr_matmul_flops`` counts them on every backend."""
  return flops_from_cost_analysis(compiled.cost_analysis())


def _conv_flops(eqn: Any) -> float:
  """2 x multiply-adds of a ``conv_general_dilated``: every output element sums over the kernel's input
  features (per group) and spatial taps (padded taps included, as in the papers' counts). Taps that fall on
  the zeros of an input dilation (the input gradient of a strided convolution) are not multiply-adds: a
  dilation of d leaves 1/d of the taps along that axis, on average over the output positions."""
  out_shape = eqn.outvars[0].aval.shape
  rhs_shape = eqn.invars[1].aval.shape
  rhs_spec = eqn.params["dimension_numbers"].rhs_spec  # (out features, in features, *spatial)
  taps = 1.0
  for dim in rhs_spec[2:]:
    taps *= rhs_shape[dim]
  for dilation in eqn.params.get("lhs_dilation") or ():
    taps /= dilation
  return 2.0 * _size(out_shape) * rhs_shape[rhs_spec[1]] * taps


def _dot_flops(eqn: Any) -> float:
  """2 x multiply-adds of a ``dot_general``: every output element sums over the contracting dimensions."""
  (lhs_contract, _), _ = eqn.params["dimension_numbers"]
  lhs_shape = eqn.invars[0].aval.shape
  return 2.0 * _size(eqn.outvars[0].aval.shape) * _size([lhs_shape[d] for d in lhs_contract])


def _size(shape: Sequence[int]) -> int:
  size = 1
  for dim in shape:
    size *= int(dim)
  return size


def _sub_jaxprs(value: Any) -> list:
  from jax.extend import core  # The jaxpr walk needs JAX's core types; the rest of this module does not.
  if isinstance(value, core.ClosedJaxpr):
    return [value.jaxpr]
  if isinstance(value, core.Jaxpr):
    return [value]
  if isinstance(value, (tuple, list)):
    return [j for v in value for j in _sub_jaxprs(v)]
  return []


def jaxpr_matmul_flops(jaxpr: Any) -> float:
  """FLOPs of the matmuls and convolutions of a (closed) jaxpr: 2 x their multiply-adds, the "model FLOPs" of
  MFU (PaLM's appendix B counts only these). Sub-jaxprs are walked (``jit``, ``remat``, custom derivatives);
  a ``scan`` body counts ``length`` times, a ``cond`` its costliest branch, a ``while`` body once (its trip
  count is not static). Elementwise ops, reductions and the optimizer update are left out.

  Independent of the backend: on a GPU, where XLA's compiled count misses the convolutions that run as cuDNN
  custom calls (``compiled_flops``), this still counts them."""
  from jax.extend import core
  if isinstance(jaxpr, core.ClosedJaxpr):
    jaxpr = jaxpr.jaxpr
  total = 0.0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "dot_general":
      total += _dot_flops(eqn)
    elif name == "conv_general_dilated":
      total += _conv_flops(eqn)
    subs = [j for value in eqn.params.values() for j in _sub_jaxprs(value)]
    if not subs:
      continue
    counts = [jaxpr_matmul_flops(j) for j in subs]
    if name == "cond":
      total += max(counts)
    elif name == "scan":
      total += eqn.params["length"] * sum(counts)
    else:
      total += sum(counts)
  return total


def step_matmul_flops(fn: Any, *args: Any) -> float:
  """``jaxpr_matmul_flops`` of ``fn(*args)`` (traced, not run): the global count, over all devices."""
  import jax
  return jaxpr_matmul_flops(jax.make_jaxpr(fn)(*args))


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
  if steps < 1 or warmup_steps < 0:
    raise ValueError(f"time_steps needs steps >= 1 and warmup_steps >= 0, got {steps} and {warmup_steps}")
  for _ in range(warmup_steps):
    state, _ = step(state, batch)
  jax.block_until_ready(state)
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, batch)
  jax.block_until_ready((state, metrics))
  return state, metrics, (time.perf_counter() - start) / steps
