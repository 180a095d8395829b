r"""DenseNet-121 on CheXpert (Irvin et al., AAAI 2019), for users who have the data (no download here).

    python -m jvision.train --config experiments/chexpert_densenet.py --workdir runs/chexpert_densenet \
        --config.data.data_dir=/data/CheXpert-v1.0-small

``config.data.data_dir`` is the folder with ``train.csv``, ``valid.csv``, ``train/`` and ``valid/``
(``jvision.xray.source``: frontal images, the five competition pathologies Atelectasis, Cardiomegaly,
Consolidation, Edema, Pleural Effusion). Images are center-cropped and resized to 224 px in the
torchxrayvision range [-1024, 1024]; uncertain labels follow the U-Ones policy with label smoothing
(``ones_smoothed``, Pham et al. 2021); the 234-image ``valid`` split (radiologist ground truth) is evaluated
with per-pathology ROC AUC, mean AUC and mean PR AUC. The schedule is the paper's: Adam, learning rate 1e-4,
three epochs of the ~191,000 frontal training images (batch 32). Other policies:
``--config.task.uncertainty_policy=ignore|zeros|ones|zeros_smoothed``; all views:
``--config.data.name=chexpert/all_views``. Its pipeline is tested on a generated folder in CheXpert's layout
(``tests/xray/test_source.py``); it has not been trained here (no data, no GPU).
"""

import ml_collections

from jvision.xray import source


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "bfloat16"

  config.data = ml_collections.ConfigDict()
  config.data.name = "chexpert"
  config.data.train_split = "train"
  config.data.eval_split = "valid"
  config.data.data_dir = ""  # Required: the CheXpert folder.

  config.task = ml_collections.ConfigDict()
  config.task.name = "multilabel"
  config.task.pathologies = source.CHEXPERT_COMPETITION
  config.task.label_key = "labels"
  config.task.eval_label_key = "labels"
  config.task.uncertainty_policy = "ones_smoothed"
  config.task.max_value = 255.0  # CheXpert's JPEGs are 8-bit.
  config.task.image_size = 224
  config.task.augment = True

  config.model = ml_collections.ConfigDict()
  config.model.name = "densenet121"
  config.model.num_classes = len(source.CHEXPERT_COMPETITION)

  config.batch_size = 32
  config.grad_accum_steps = 1
  config.total_steps = 18000  # About 3 epochs of the frontal training images.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-4
  config.optimizer.weight_decay = 0.0
  config.optimizer.momentum = 0.9
  config.optimizer.grad_clip_norm = 0.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "constant"
  config.schedule.warmup_steps = 0
  config.schedule.decay_steps = ()
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 100
  config.eval_every_steps = 2000
  config.eval_batch_size = 64
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3
  config.async_checkpoints = True
  return config
