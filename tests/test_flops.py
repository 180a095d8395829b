"""FLOP counting and MFU arithmetic (jvision/flops.py): XLA's count against hand-computed 2*M*N*K."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jvision import flops

M, K, N = 64, 96, 128


def _flops(fn, *args, **jit_kwargs):
  return flops.compiled_flops(jax.jit(fn, **jit_kwargs).lower(*args).compile())


def test_matmul_is_exactly_2mnk():
  assert _flops(jnp.matmul, jnp.ones((M, K)), jnp.ones((K, N))) == 2 * M * N * K


def test_valid_convolution_is_exactly_twice_its_multiply_adds():
  batch, height, width, c_in, c_out, kernel = 2, 12, 10, 3, 8, 3
  conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  count = _flops(conv, jnp.ones((batch, height, width, c_in)), jnp.ones((kernel, kernel, c_in, c_out)))
  out_h, out_w = height - kernel + 1, width - kernel + 1
  assert count == 2 * batch * out_h * out_w * c_out * kernel * kernel * c_in


def test_dense_layer_training_step_counts_forward_and_weight_gradient():
  # Forward x @ w (2MNK) + the weight gradient x^T @ g (2MNK); x is not differentiated, so no third matmul.
  # The rest is elementwise on the [M, N] output (bias add, tanh, its derivative, the sums): the stated
  # tolerance is at most 8 FLOPs per output element (2% of 4MNK here; a missed or extra matmul is 50%).
  def loss_grads(w, b, x):
    return jax.grad(lambda w, b: jnp.sum(jnp.tanh(x @ w + b)), argnums=(0, 1))(w, b)

  count = _flops(loss_grads, jnp.ones((K, N)), jnp.ones((N,)), jnp.ones((M, K)))
  assert 4 * M * N * K <= count <= 4 * M * N * K + 8 * M * N


def test_sharded_program_counts_flops_per_device():
  devices = np.array(jax.devices()[:8])
  mesh = Mesh(devices, ("data",))
  count = _flops(jnp.matmul, jnp.ones((M, K)), jnp.ones((K, N)),
                 in_shardings=(NamedSharding(mesh, P("data")), NamedSharding(mesh, P())))
  assert count == 2 * M * N * K / len(devices)


def test_cost_analysis_as_dict_or_list():
  assert flops.flops_from_cost_analysis({"flops": 6.0, "bytes accessed": 1.0}) == 6.0
  assert flops.flops_from_cost_analysis([{"flops": 6.0}, {"flops": 2.0}]) == 8.0
  with pytest.raises(ValueError, match="no 'flops'"):
    flops.flops_from_cost_analysis({})


def test_mfu_arithmetic():
  # 2 TFLOP per step in 0.25 s is 8 TFLOP/s; on a 989 TFLOP/s H100 that is 0.809%.
  assert flops.mfu(2e12, 0.25, 989e12) == pytest.approx(8e12 / 989e12)
  assert flops.mfu(2e12, 0.25, 16e12) == pytest.approx(0.5)
  with pytest.raises(ValueError):
    flops.mfu(1.0, 0.0, 1.0)


def test_accelerator_peaks():
  assert flops.accelerator_peak_flops("NVIDIA H100 80GB HBM3", "bfloat16") == 989e12
  assert flops.accelerator_peak_flops("NVIDIA H100 PCIe", "bfloat16") == 756e12
  assert flops.accelerator_peak_flops("NVIDIA A100-SXM4-80GB", "float32") == 19.5e12
  assert flops.accelerator_peak_flops("TPU v5 lite", "bfloat16") == 197e12
  assert flops.accelerator_peak_flops("TPU v4", "float32") is None
  assert flops.accelerator_peak_flops("cpu", "float32") is None


CPUINFO = """processor\t: 0
model name\t: Test CPU
cpu MHz\t\t: 2500.000
siblings\t: 4
cpu cores\t: 2
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512_bf16
"""


def test_cpu_peak_is_cores_times_clock_times_flops_per_cycle():
  # 4 logical CPUs, 2 threads per core -> 2 cores; AVX-512: 32 fp32 FLOPs/cycle; 2 x 2.5e9 x 32 = 160 GFLOP/s.
  peak, formula = flops.cpu_peak_flops(CPUINFO, logical_cpus=4, dtype="float32")
  assert peak == 2 * 2.5e9 * 32
  assert "2 cores x 2.50 GHz x 32" in formula
  assert flops.cpu_peak_flops(CPUINFO, logical_cpus=4, dtype="bfloat16")[0] == 2 * 2.5e9 * 64
  avx2 = CPUINFO.replace(" avx512f avx512_bf16", "")
  assert flops.cpu_peak_flops(avx2, logical_cpus=4, dtype="bfloat16")[0] == 2 * 2.5e9 * 16


def test_time_steps_runs_warmup_plus_timed_steps_and_rejects_bad_counts():
  step = jax.jit(lambda state, batch: (state + batch, {"loss": state.sum()}))
  state, metrics, seconds = flops.time_steps(step, jnp.zeros(3), jnp.ones(3), steps=2, warmup_steps=0)
  np.testing.assert_array_equal(state, [2.0, 2.0, 2.0])  # No warm-up: exactly the two timed steps ran.
  assert float(metrics["loss"]) == 3.0 and seconds > 0
  state, _, _ = flops.time_steps(step, jnp.zeros(3), jnp.ones(3), steps=1, warmup_steps=2)
  np.testing.assert_array_equal(state, [3.0, 3.0, 3.0])
  with pytest.raises(ValueError, match="steps >= 1"):
    flops.time_steps(step, jnp.zeros(3), jnp.ones(3), steps=0)
  with pytest.raises(ValueError, match="warmup_steps >= 0"):
    flops.time_steps(step, jnp.zeros(3), jnp.ones(3), steps=1, warmup_steps=-1)


def _conv(x, w, strides=(1, 1), padding="VALID"):
  return jax.lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


def test_jaxpr_matmul_flops_equals_xla_count_for_matmul_and_convolution():
  x, w = jnp.ones((2, 9, 9, 3)), jnp.ones((3, 3, 3, 4))
  assert flops.step_matmul_flops(_conv, x, w) == _flops(_conv, x, w) == 2 * 2 * 7 * 7 * 4 * 9 * 3
  assert flops.step_matmul_flops(jnp.matmul, jnp.ones((M, K)), jnp.ones((K, N))) == 2 * M * N * K
  # Inside jit, and batched (einsum with a batch dimension): only matmuls count, not the tanh.
  batched = jax.jit(lambda a, b: jnp.tanh(jnp.einsum("bmk,bkn->bmn", a, b)))
  assert flops.step_matmul_flops(batched, jnp.ones((5, M, K)), jnp.ones((5, K, N))) == 5 * 2 * M * N * K


def test_input_gradient_of_strided_convolution_counts_only_real_multiply_adds():
  # Each multiply-add of the forward convolution has exactly one in the input gradient (and one in the
  # weight gradient). The input gradient runs as a convolution over the output gradient dilated by the
  # stride: the taps on the inserted zeros must not count (they would make it 4x here).
  x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((2, 2, 3, 4))
  conv = lambda x, w: _conv(x, w, strides=(2, 2))
  forward = flops.step_matmul_flops(conv, x, w)
  assert forward == 2 * 2 * 4 * 4 * 4 * (2 * 2 * 3)
  input_grad = jax.grad(lambda x, w: conv(x, w).sum(), argnums=0)
  weight_grad = jax.grad(lambda x, w: conv(x, w).sum(), argnums=1)
  assert flops.step_matmul_flops(input_grad, x, w) == 2 * forward  # forward + its input gradient
  assert flops.step_matmul_flops(weight_grad, x, w) == 2 * forward


def test_jaxpr_matmul_flops_walks_scan_cond_and_remat():
  a, b = jnp.ones((M, K)), jnp.ones((K, K))
  one = 2 * M * K * K

  def scanned(a, b):
    return jax.lax.scan(lambda c, _: (c @ b, None), a, None, length=3)[0]

  assert flops.step_matmul_flops(scanned, a, b) == 3 * one
  branchy = lambda p, a, b: jax.lax.cond(p, lambda: (a @ b) @ b, lambda: a)
  assert flops.step_matmul_flops(branchy, True, a, b) == 2 * one  # the costlier branch
  assert flops.step_matmul_flops(jax.checkpoint(lambda a, b: a @ b), a, b) == one


def test_resnet50_forward_matches_published_multiply_adds():
  # torchvision's ResNet-50 at 224 px: 4.09 GMACs per image (its model card's "GFLOPS", which counts
  # multiply-adds), i.e. 8.18 GFLOPs; a training step is about 3x that.
  from jvision.models import resnet
  model = resnet.ResNet50(num_classes=1000)
  x = jnp.zeros((1, 224, 224, 3))
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x, train=False))
  forward = flops.step_matmul_flops(lambda v, x: model.apply(v, x, train=False), variables, x)
  assert forward == pytest.approx(8.18e9, rel=0.005)

  def loss(params, batch_stats, x):
    out, _ = model.apply({"params": params, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"])
    return out.sum()

  step = flops.step_matmul_flops(jax.grad(loss), variables["params"], variables["batch_stats"], x)
  # Forward, weight gradients and input gradients of all but the stem (whose input is the image).
  assert 2.9 * forward < step < 3.0 * forward
