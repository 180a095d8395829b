r"""experiments/clip_shapes.py with the tiny ViT image tower (patch 8, width 64, 3 layers, 2 heads) instead of
the ModifiedResNet, at the 64 px input and with the rate decayed to zero (clip_shapes.py's settings before
it moved to 128 px); everything else is the same.

    python -m jvision.train --config experiments/clip_shapes_vit.py --workdir runs/clip_shapes_vit
    python -m jvision.zero_shot --workdir runs/clip_shapes_vit
"""

from jvision import config as config_lib

_base = config_lib.sibling_experiment(__file__, "clip_shapes.py")


def get_config():
  config = _base.get_config()
  config.model.vision = "vit"
  del config.model["vision_layers"]  # A tuple of stage depths for the ResNet; an int (depth) for the ViT.
  config.model.vision_layers = 3
  config.model.vision_width = 64
  config.model.vision_heads = 2
  config.model.vision_patch_size = 8
  config.task.image_size = 64
  config.schedule.final_fraction = 0.0
  config.total_steps = 1500
  config.checkpoint_every_steps = 500
  return config
