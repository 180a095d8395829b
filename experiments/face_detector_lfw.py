r"""A small face / non-face CNN trained from scratch on scikit-image's LFW patches (embedded, no download).

    python -m jvision.train --config experiments/face_detector_lfw.py --workdir runs/face_detector_lfw

150 training patches (25x25 grey, half faces), 50 test patches; the existing classification task and CNN.
The trained classifier becomes a detector by sliding it over an image pyramid, OverFeat-style (Sermanet et
al., 2014): ``JVISION_FACE_HOG_WORKDIR=runs/face_detector_lfw`` makes ``jvision.face.face_locations(...,
model='hog')`` use it (see ``jvision.face.lfw_detector``). It shows the training path; it is no match for
dlib's CNN detector (``model='cnn'``).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "lfw_faces"
  config.data.train_split = "train"
  config.data.eval_split = "test"
  config.data.data_dir = ""

  config.task = ml_collections.ConfigDict()
  config.task.name = "classification"
  config.task.num_classes = 2
  config.task.mean = (0.45,)
  config.task.std = (0.25,)
  config.task.crop_padding = 2
  config.task.flip = True  # Faces are roughly mirror-symmetric.
  config.task.label_smoothing = 0.0

  config.model = ml_collections.ConfigDict()
  config.model.name = "cnn"
  config.model.num_classes = config.task.get_ref("num_classes")
  config.model.features = (16, 32)
  config.model.convs_per_block = 2
  config.model.kernel_size = 3
  config.model.activation = "relu"
  config.model.batch_norm = True
  config.model.pooling = "max"
  config.model.dropout_rate = 0.3
  config.model.head_width = 64
  config.model.global_pool = False

  config.batch_size = 32
  config.total_steps = 400  # ~85 epochs of the 150 patches.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 2e-3
  config.optimizer.weight_decay = 1e-4
  config.optimizer.momentum = 0.9
  config.optimizer.grad_clip_norm = 0.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"
  config.schedule.warmup_steps = 20
  config.schedule.decay_steps = ()
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 50
  config.eval_every_steps = 200
  config.eval_batch_size = 50
  config.checkpoint_every_steps = 200
  config.keep_checkpoints = 1
  config.async_checkpoints = False
  return config
