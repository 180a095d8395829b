r"""CLIP ViT-B/32 on COCO captions (the user's prepared ``coco_captions``; five captions per image).

    python -m jvision.train --config experiments/clip_coco.py --workdir runs/clip_coco \
        --config.task.merges_path=/path/to/bpe_simple_vocab_16e6.txt.gz --config.data.data_dir=/path/to/tfds

Prepare the data once with ``tfds build coco_captions --file_format=array_record``. Images get CLIP's
preprocessing (bicubic resize, 224 centre crop, CLIP mean/std), captions OpenAI's BPE tokenizer (context 77;
a random one of the five per step). The loss is sharded over the ``data`` axis of all devices; with 8
devices and batch 1024 each device holds 128 x 1024 logits. ``--config.task.loss=sigmoid`` uses SigLIP's loss.
Evaluation reports image->text and text->image recall@1/5 on the validation split (with its first caption).
Not trained here (no COCO on this machine); the pipeline is tested on mock data (tests/test_clip_coco.py).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dtype = "float32"

  config.data = ml_collections.ConfigDict()
  config.data.name = "coco_captions"
  config.data.train_split = "train"
  config.data.eval_split = "val"
  config.data.data_dir = ""

  config.task = ml_collections.ConfigDict()
  config.task.name = "contrastive"
  config.task.dataset = config.data.get_ref("name")
  config.task.image_size = 224
  config.task.context_length = 77
  config.task.tokenizer = "clip_bpe"
  config.task.merges_path = ""  # Required: OpenAI's bpe_simple_vocab_16e6.txt.gz.
  config.task.vocab_size = 49408
  config.task.loss = "softmax"

  config.model = ml_collections.ConfigDict()
  config.model.name = "clip_vit_b32"
  config.model.image_size = config.task.get_ref("image_size")
  config.model.context_length = config.task.get_ref("context_length")
  config.model.vocab_size = config.task.get_ref("vocab_size")
  # Split the transformers' kernels over the mesh's "model" axis (with config.model_axis_size > 1).
  config.model.tensor_parallel = False

  config.batch_size = 1024
  config.total_steps = 20_000
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 5e-4
  config.optimizer.weight_decay = 0.2
  config.optimizer.b2 = 0.98
  config.optimizer.eps = 1e-6
  config.optimizer.grad_clip_norm = 1.0
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"
  config.schedule.warmup_steps = 1000
  config.schedule.decay_steps = ()
  config.schedule.decay_factor = 0.1

  config.log_every_steps = 100
  config.eval_every_steps = 2000
  config.eval_batch_size = 1000
  config.checkpoint_every_steps = 2000
  config.keep_checkpoints = 2
  config.async_checkpoints = True
  return config
