"""Zero-shot classification with a contrastive image-text model (CLIP, Radford et al. 2021, Sec. 3.1).

A class is represented by the text embeddings of its name in several prompt templates ("a photo of a {}."):
each template's embedding is L2-normalized, the per-class mean is taken and renormalized (prompt ensembling,
Sec. 3.1.4). An image is assigned the class whose embedding has the largest cosine similarity.

    python -m jvision.zero_shot --workdir runs/clip_shapes

evaluates a ``shapes`` run's latest checkpoint on its eval split: zero-shot shape and colour accuracy (also on
the colour-shape combinations held out of training, ``config.zero_shot.held_out``) and the retrieval
recall@1/5 of the trained task, printed as one JSON line. ``--linear_probe N`` adds logistic-regression probes
of shape and colour on the frozen image embeddings of N training images (CLIP's Sec. 3.2 protocol): a probe
as low as zero-shot says the image tower lacks the attribute; a probe far above it points at the text side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jvision import checkpointing, compilation, data, models, restore, tasks
from jvision.data import pipeline, shapes_scenes
from jvision.metrics.retrieval import retrieval_metrics

Variables = Any


def _variables(params: Variables) -> dict:
  """``params`` alone or a full variables dict (with ``batch_stats``) -> variables dict."""
  return dict(params) if "params" in params else {"params": params}


def build_zero_shot_classifier(params: Variables, tokenizer, classnames: Sequence[str], templates: Sequence[str],
                               *, model, batch_size: int = 256) -> jnp.ndarray:
  """Class embeddings ``[num_classes, E]``: per class, the renormalized mean of its normalized prompt embeddings.

  Args:
    params: the model's params (or its whole variables dict).
    tokenizer: a ``jvision.tokenizers`` tokenizer.
    classnames: class names put into the templates.
    templates: format strings with one ``{}``.
    model: the CLIP module (its ``encode_text`` and ``context_length`` are used).
  """
  if not classnames or not templates:
    raise ValueError("build_zero_shot_classifier needs at least one class name and one template")
  bad = [t for t in templates if t.count("{}") != 1]
  if bad:
    raise ValueError(f"templates need exactly one '{{}}' placeholder; bad: {bad[:3]}")
  texts = [template.format(name) for name in classnames for template in templates]
  tokens = tokenizer.tokenize(texts, model.context_length)
  encode = jax.jit(lambda v, t: model.apply(v, t, method="encode_text"))
  variables = _variables(params)
  embeddings = np.concatenate([np.asarray(encode(variables, tokens[i:i + batch_size]))
                               for i in range(0, len(tokens), batch_size)])
  embeddings = embeddings.reshape(len(classnames), len(templates), -1)
  embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True)
  mean = embeddings.mean(axis=1)
  return jnp.asarray(mean / np.linalg.norm(mean, axis=-1, keepdims=True))


def predict(params: Variables, classifier: jnp.ndarray, images: jnp.ndarray, *, model) -> tuple[jnp.ndarray,
                                                                                                 jnp.ndarray]:
  """``images [B, S, S, 3]`` (CLIP-preprocessed) -> ``(labels [B], probabilities [B, num_classes])``.

  Probabilities are the softmax of the model's scaled cosine similarities.
  """
  out = model.apply(_variables(params), images, train=False)
  logits = out["scale"] * out["image"] @ classifier.T
  return jnp.argmax(logits, axis=-1), jax.nn.softmax(logits, axis=-1)


SHAPES_REGIONS = ("top left", "top", "top right", "middle left", "centre", "middle right", "bottom left", "bottom",
                  "bottom right")


def shapes_prompts() -> dict[str, tuple[Sequence[str], list[str]]]:
  """For each ``shapes`` attribute, ``(classnames, templates)``: captions in the training captions' form ("a
  {size} {colour} {shape} in the {region}") with every value of the other attributes, as CLIP's prompts
  mimic its training text (Sec. 3.1.4)."""
  sizes, colours, shapes = shapes_scenes.SIZE_NAMES, shapes_scenes.COLOUR_NAMES, shapes_scenes.CLASS_NAMES
  return {
      "shape": (shapes, [f"a {size} {colour} {{}} in the {region}"
                         for size in sizes for colour in colours for region in SHAPES_REGIONS]),
      "colour": (colours, [f"a {size} {{}} {shape} in the {region}"
                           for size in sizes for shape in shapes for region in SHAPES_REGIONS]),
  }


def _shape_colour_labels(source) -> dict[str, np.ndarray]:
  """The first object's shape and colour of every example of a ``shapes`` source."""
  labels = {"shape": [], "colour": []}
  for i in range(len(source)):
    objects = source[i]["objects"]
    labels["shape"].append(int(objects["label"][0]))
    labels["colour"].append(int(objects["colour"][0]))
  return {k: np.asarray(v) for k, v in labels.items()}


def linear_probe_accuracy(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                          test_labels: np.ndarray) -> float:
  """Test accuracy of an L2-regularized logistic regression fitted on frozen features (CLIP's linear-probe
  protocol, Sec. 3.2, with scikit-learn's L-BFGS and its default C = 1) on standardized features."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler
  probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
  probe.fit(train_features, train_labels)
  return float(probe.score(test_features, test_labels))


def evaluate_shapes_run(workdir: str, step: Optional[int] = None, batch_size: int = 200,
                        probe_examples: int = 0) -> dict[str, float]:
  """Zero-shot shape/colour accuracy (all, held-out combinations) and retrieval recall of a shapes run.

  With ``probe_examples`` > 0, also the linear-probe accuracy of shape and colour on the frozen image
  embeddings, fitted on the first ``probe_examples`` training examples: whether the image tower encodes an
  attribute at all, apart from whether the text tower names it."""
  with open(os.path.join(workdir, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  checkpoint_dir = os.path.join(workdir, "checkpoints")
  step = restore.resolve_step(workdir, step)
  state = checkpointing.load_state(checkpoint_dir, step)
  variables = {"params": state["params"], **state.get("model_state", {})}
  task_kwargs = {k: v for k, v in config.task.items() if k != "name"}
  task = tasks.get_task(config.task.name, **task_kwargs)
  model_kwargs = {k: v for k, v in config.model.items() if k != "name"}
  model = models.get_model(config.model.name, **model_kwargs)
  source = data.data_source(config.data.name, config.data.eval_split, config.data.get("data_dir") or None)

  classifiers = {attribute: build_zero_shot_classifier(variables, task.tokenizer, names, templates, model=model)
                 for attribute, (names, templates) in shapes_prompts().items()}
  apply = compilation.jit(lambda v, images, tokens: model.apply(v, images, tokens, train=False))
  predictions = {attribute: [] for attribute in classifiers}
  images, texts, tokens = [], [], []
  for batch in pipeline.eval_batches(source, task.preprocess_eval, local_batch_size=batch_size):
    out = apply(variables, batch["image"], batch["tokens"])
    mask = batch["mask"]
    for attribute, classifier in classifiers.items():
      predictions[attribute].append(np.asarray(jnp.argmax(out["image"] @ classifier.T, axis=-1))[mask])
    images.append(np.asarray(out["image"])[mask])
    texts.append(np.asarray(out["text"])[mask])
    tokens.append(batch["tokens"][mask])
  labels = _shape_colour_labels(source)
  held_out = {tuple(p.split()) for p in config.get("zero_shot", {}).get("held_out", ())}
  combo = np.asarray([(shapes_scenes.COLOUR_NAMES[c], shapes_scenes.CLASS_NAMES[s]) in held_out
                      for c, s in zip(labels["colour"], labels["shape"])], bool)
  result: dict[str, float] = {"step": step}
  for attribute in classifiers:
    correct = np.concatenate(predictions[attribute]) == labels[attribute]
    result[f"zero_shot_{attribute}_accuracy"] = float(correct.mean())
    if combo.any():
      result[f"zero_shot_{attribute}_accuracy_held_out"] = float(correct[combo].mean())
  result["held_out_test_examples"] = int(combo.sum())
  result.update(retrieval_metrics(np.concatenate(images), np.concatenate(texts), np.concatenate(tokens)))
  if probe_examples > 0:
    train_source = data.data_source(config.data.name, f"{config.data.train_split}[:{probe_examples}]",
                                     config.data.get("data_dir") or None)
    train_images = [np.asarray(apply(variables, batch["image"], batch["tokens"])["image"])[batch["mask"]]
                    for batch in pipeline.eval_batches(train_source, task.preprocess_eval,
                                                       local_batch_size=batch_size)]
    train_labels = _shape_colour_labels(train_source)
    for attribute in classifiers:
      result[f"linear_probe_{attribute}_accuracy"] = linear_probe_accuracy(
          np.concatenate(train_images), train_labels[attribute], np.concatenate(images), labels[attribute])
  return result


def main(argv: Optional[list[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True, help="a run of experiments/clip_shapes.py")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
  parser.add_argument("--linear_probe", type=int, default=0, metavar="N",
                      help="also fit linear probes of shape and colour on the image embeddings of the first N "
                           "training examples (0: no probe)")
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  if args.linear_probe < 0:
    parser.error(f"--linear_probe must be >= 0, got {args.linear_probe}")
  print(json.dumps(evaluate_shapes_run(args.workdir, args.step, probe_examples=args.linear_probe)), flush=True)


if __name__ == "__main__":
  main()
