r"""A ResNet-style X-ray autoencoder on the embedded synthetic chest X-rays: the latent space of Latent Shift.

    python -m jvision.train --config experiments/xray_autoencoder.py --workdir runs/xray_autoencoder

Trains ``jvision.models.xray_autoencoder`` (64 px, one stride-2 stage: latent 32x32x4, per-pixel
normalization) with the ``reconstruction`` task (MSE + 0.5 MAE on images scaled to [-1, 1]); prints eval MSE,
MAE and PSNR. Used with a classifier run (``experiments/xray_cnn_evidence.py``) by ``python -m
jvision.xray.explain`` and ``experiments/xray_explain.py``. The latent is fine (2x2 pixels a cell, as many
numbers as the image has pixels) and the normalization per pixel (``model.norm="pixel"``) so that a Latent
Shift stays local: with GroupNorm, statistics over the whole map carry a change anywhere in the latent to
every pixel, and a coarser latent smooths the change over a wider area (``experiments/xray_explain.py``
measures both).

Measured (seed 0, 2-core CPU, shared with a few short evaluations): eval PSNR 35.23 dB, MSE 0.0012, MAE 0.027
after 2,000 steps (384 s); at 1,000 steps (``--config.total_steps=1000 --config.eval_every_steps=1000``): PSNR
33.37 dB, MSE 0.0019, MAE 0.033 (191 s).
Earlier settings, each with these overrides:
- 16x16x16, per-pixel norm, 4,000 steps (``--config.model.features="(16,32)" --config.model.latent_features=16
  --config.total_steps=4000 --config.eval_every_steps=2000``): PSNR 33.60 dB, MSE 0.0018, MAE 0.033 (1,145 s,
  idle but for a 30 s test run); at 1,000 steps (``--config.total_steps=1000``): PSNR 32.13 dB (286 s).
- The same with GroupNorm (``--config.model.norm=group``), 4,000 steps: PSNR 33.46 dB, MSE 0.0018 (1,231 s,
  shared).
- At 1,000 steps (``--config.total_steps=1000 --config.eval_every_steps=1000`` with each of these): 16x16x4
  (``--config.model.features="(16,32)"``), per-pixel norm: PSNR 31.49 dB (278 s); 4x4x16
  (``--config.model.features="(16,32,64,64)" --config.model.latent_features=16``): 29.75 dB (389 s).
- Latent noise (a VAE-like flat decoder) on the 16x16x16 per-pixel autoencoder at 1,000 steps
  (``--config.model.features="(16,32)" --config.model.latent_features=16 --config.model.latent_noise=0.5
  --config.total_steps=1000 --config.eval_every_steps=1000``): PSNR 30.18 dB (296 s); with
  ``latent_noise=1.0``: 26.88 dB (285 s).
- The 8x8x16 GroupNorm autoencoder (``--config.model.features="(16,32,64)" --config.model.latent_features=16
  --config.model.norm=group --config.total_steps=400 --config.eval_every_steps=400``): PSNR 28.90 dB, MSE 0.0053 after 400 steps (736 s,
  shared); resumed to 1,000 steps with ``--config.total_steps=1000``: PSNR 30.13 dB, MSE 0.0040 (650 s more).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "xray_synthetic/64"
  config.data.train_split = "train"
  config.data.eval_split = "test"
  config.data.data_dir = ""

  config.task = ml_collections.ConfigDict()
  config.task.name = "reconstruction"
  config.task.max_value = 255.0
  config.task.augment = True
  config.task.l1_weight = 0.5

  config.model = ml_collections.ConfigDict()
  config.model.name = "xray_autoencoder"
  config.model.features = (16,)
  config.model.latent_features = 4
  config.model.norm = "pixel"
  config.model.latent_noise = 0.0

  config.batch_size = 32
  config.grad_accum_steps = 1
  config.total_steps = 2000
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 2e-3
  config.optimizer.weight_decay = 1e-5
  config.optimizer.momentum = 0.9
  config.optimizer.grad_clip_norm = 1.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"
  config.schedule.warmup_steps = 50
  config.schedule.decay_steps = ()
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 50
  config.eval_every_steps = 2000
  config.eval_batch_size = 100
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 2
  config.async_checkpoints = True
  return config
