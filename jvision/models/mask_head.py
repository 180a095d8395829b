"""The mask branch of Mask R-CNN (He et al., "Mask R-CNN", ICCV 2017, section 3 and figure 4, right).

A small fully convolutional network on the RoIAlign features of each RoI: four 3x3 convolutions with ReLU
(``width`` channels, "same" padding), a 2x2 stride-2 transposed convolution with ReLU that doubles the
resolution (14x14 -> 28x28), and a 1x1 convolution to one mask logit per class. Predicting ``K`` masks and
training only the channel of the RoI's class (``jvision.losses.instance_segmentation.mask_rcnn_loss``)
decouples mask and class prediction (section 3, "Mask Representation").

Submodule names follow torchvision's ``MaskRCNNHeads``/``MaskRCNNPredictor`` (``mask_fcn1``..``mask_fcn4``,
``conv5_mask``, ``mask_fcn_logits``), and so does the initialization: He-normal with fan-out, zero biases.

``MaskHead(num_classes)(roi_features [R, 14, 14, C]) -> mask_logits [R, 28, 28, num_classes]`` (float32).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import linen as nn

Dtype = Any
he_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class MaskHead(nn.Module):
  """Mask R-CNN mask branch: ``num_convs`` x (3x3 conv + ReLU), 2x upsampling, per-class 1x1 logits."""
  num_classes: int
  width: int = 256
  num_convs: int = 4
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, roi_features):
    """``[R, h, w, C]`` RoI features -> ``[R, 2h, 2w, num_classes]`` float32 mask logits."""
    if roi_features.ndim != 4:
      raise ValueError(f"roi_features must be [R, h, w, C], got shape {roi_features.shape}")
    x = jnp.asarray(roi_features, self.dtype)
    for i in range(self.num_convs):
      x = nn.Conv(self.width, (3, 3), padding="SAME", kernel_init=he_fan_out, dtype=self.dtype,
                  param_dtype=self.param_dtype, name=f"mask_fcn{i + 1}")(x)
      x = nn.relu(x)
    x = nn.ConvTranspose(self.width, (2, 2), strides=(2, 2), padding="VALID", kernel_init=he_fan_out,
                         dtype=self.dtype, param_dtype=self.param_dtype, name="conv5_mask")(x)
    x = nn.relu(x)
    logits = nn.Conv(self.num_classes, (1, 1), kernel_init=he_fan_out, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="mask_fcn_logits")(x)
    return logits.astype(jnp.float32)
