"""A ResNet-style convolutional autoencoder for single-channel chest X-rays (the latent space of Latent Shift).

Cohen et al., "Gifsplanation via Latent Shift: A Simple Autoencoder Approach to Counterfactual Generation for
Chest X-rays" (MIDL 2021) explain a classifier by moving an image's autoencoder latent along the classifier's
gradient and decoding (``jvision.xray.explain``). Their autoencoder is a ResNet whose encoder downsamples with
strided residual blocks and whose decoder mirrors it with upsampling residual blocks; this is a small version
of that design with a spatial latent ``[B, H / 2**S, W / 2**S, latent_features]`` (S = ``len(features)``) so
that a shift can stay local.

Inputs and outputs are in the torchxrayvision range ([-1024, 1024], one channel, ``jvision.xray.preprocess``);
the network works on ``x / 1024`` internally. GroupNorm (or, with ``norm="pixel"``, a LayerNorm over each
pixel's channels, which keeps a latent change local) instead of BatchNorm keeps the model stateless, so
``encode``/``decode`` need no ``batch_stats`` and gradients through ``decode`` do not depend on a batch.

    model = XrayAutoencoder()
    variables = model.init(rng, images)                        # images [B, H, W, 1]
    z = model.apply(variables, images, method=model.encode)    # [B, H/8, W/8, 32]
    recon = model.apply(variables, z, method=model.decode)     # [B, H, W, 1]
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

Dtype = Any
XRV_RANGE = 1024.0
NORMS = ("group", "pixel")


def _groups(features: int) -> int:
  return next(g for g in (8, 4, 2, 1) if features % g == 0)


class ResidualBlock(nn.Module):
  """Two 3x3 convs with GroupNorm or per-pixel LayerNorm (``norm``) and a (1x1-projected) shortcut;
  ``resample`` is ``"down"`` (stride 2), ``"up"`` (nearest 2x upsampling first) or ``"none"``.
  [B, H, W, C] -> [B, H', W', features]."""
  features: int
  resample: str = "none"
  norm: str = "group"
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.resample not in ("down", "up", "none"):
      raise ValueError(f"resample must be 'down', 'up' or 'none'; got {self.resample!r}")
    if self.norm not in NORMS:
      raise ValueError(f"unknown norm {self.norm!r}; known: {', '.join(NORMS)}")
    conv = functools.partial(nn.Conv, dtype=self.dtype, param_dtype=self.param_dtype)
    if self.norm == "group":
      norm = functools.partial(nn.GroupNorm, num_groups=_groups(self.features), dtype=self.dtype,
                               param_dtype=self.param_dtype)
    else:  # Each pixel's channels on their own: a change at one place does not reach the others.
      norm = functools.partial(nn.LayerNorm, dtype=self.dtype, param_dtype=self.param_dtype)
    if self.resample == "up":
      b, h, w, c = x.shape
      x = jax.image.resize(x, (b, 2 * h, 2 * w, c), "nearest")
    strides = (2, 2) if self.resample == "down" else (1, 1)
    y = conv(self.features, (3, 3), strides, name="conv1")(x)
    y = nn.silu(norm(name="norm1")(y))
    y = conv(self.features, (3, 3), name="conv2")(y)
    y = norm(name="norm2")(y)
    if strides != (1, 1) or x.shape[-1] != self.features:
      x = conv(self.features, (1, 1), strides, name="shortcut")(x)
    return nn.silu(x + y)


class XrayAutoencoder(nn.Module):
  """Encoder: stem conv, one strided residual block per entry of ``features``, 1x1 conv to the latent.
  Decoder: the mirror image with upsampling blocks and a 3x3 conv to one channel.

  Attributes:
    features: channels of the encoder stages (the decoder uses them reversed).
    latent_features: channels of the latent map ``z`` [B, H / 2**len(features), W / 2**len(features), C].
    norm: ``"group"`` (GroupNorm: statistics over the whole map, so a change anywhere in the latent shifts
      every output pixel a little) or ``"pixel"`` (LayerNorm over each pixel's channels: a latent change
      reaches only the decoder's receptive field, which keeps a Latent Shift local).
    latent_noise: in training (``__call__(..., train=True)``, rng stream ``"dropout"``), Gaussian noise of
      this standard deviation, relative to each example's latent RMS, is added to the latent before decoding
      (0: none). The decoder then has to map a whole ball of latents to one image, so it becomes flat along
      directions that no training image needs, as a VAE's decoder does (Ghosh et al., "From Variational to
      Deterministic Autoencoders", ICLR 2020, Section 2).
  """
  features: Sequence[int] = (32, 64, 128)
  latent_features: int = 32
  norm: str = "group"
  latent_noise: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    if not self.features:
      raise ValueError("XrayAutoencoder needs at least one stage in `features`")
    if not self.latent_noise >= 0:
      raise ValueError(f"latent_noise must be >= 0; got {self.latent_noise}")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    block_kw = dict(norm=self.norm, **kw)
    self.stem = nn.Conv(self.features[0], (3, 3), name="stem", **kw)
    self.down = [ResidualBlock(f, "down", name=f"down{i}", **block_kw) for i, f in enumerate(self.features)]
    self.to_latent = nn.Conv(self.latent_features, (1, 1), name="to_latent", **kw)
    self.from_latent = nn.Conv(self.features[-1], (3, 3), name="from_latent", **kw)
    reversed_features = tuple(self.features[::-1])
    self.up = [ResidualBlock(f, "up", name=f"up{i}", **block_kw) for i, f in enumerate(reversed_features)]
    self.to_image = nn.Conv(1, (3, 3), name="to_image", **kw)

  @property
  def downsampling(self) -> int:
    return 2 ** len(self.features)

  def encode(self, images: jnp.ndarray) -> jnp.ndarray:
    """XRV-range images [B, H, W, 1] (H, W divisible by ``2**len(features)``) -> latent [B, h, w, C]."""
    if images.ndim != 4 or images.shape[-1] != 1:
      raise ValueError(f"XrayAutoencoder expects [B, H, W, 1] images; got shape {images.shape}")
    if images.shape[1] % self.downsampling or images.shape[2] % self.downsampling:
      raise ValueError(f"image size {images.shape[1:3]} must be divisible by {self.downsampling}")
    x = self.stem(jnp.asarray(images, self.dtype) / XRV_RANGE)
    for block in self.down:
      x = block(x)
    return self.to_latent(x)

  def decode(self, latent: jnp.ndarray) -> jnp.ndarray:
    """Latent [B, h, w, C] -> XRV-range float32 images [B, h * 2**S, w * 2**S, 1]."""
    x = nn.silu(self.from_latent(jnp.asarray(latent, self.dtype)))
    for block in self.up:
      x = block(x)
    return self.to_image(x).astype(jnp.float32) * XRV_RANGE

  def __call__(self, images: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """Reconstruction ``decode(encode(images))`` [B, H, W, 1]; with ``train`` and ``latent_noise``, of the
    noised latent."""
    latent = self.encode(images)
    if train and self.latent_noise > 0:
      rms = jax.lax.stop_gradient(jnp.sqrt(jnp.mean(latent.astype(jnp.float32) ** 2, axis=(1, 2, 3),
                                                    keepdims=True)))
      noise = jax.random.normal(self.make_rng("dropout"), latent.shape, jnp.float32)
      latent = latent + (self.latent_noise * rms * noise).astype(latent.dtype)
    return self.decode(latent)
