"""Zero-shot classifier: prompt ensembling against a numpy re-derivation; predict against cosine argmax."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvision import models, zero_shot
from jvision.tokenizers.words import WordTokenizer
from jvision.zero_shot_templates import IMAGENET_TEMPLATES

SMALL = dict(embed_dim=8, image_size=16, vision_layers=1, vision_width=16, vision_patch_size=8, vision_heads=2,
             context_length=8, vocab_size=128, text_width=16, text_heads=2, text_layers=1)


def test_classifier_and_predict_match_numpy():
  model = models.get_model("clip", **SMALL)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)))
  tokenizer = WordTokenizer()
  classnames, templates = ["star", "circle", "square"], ["a {}", "a red {}", "a large blue {}"]
  classifier = zero_shot.build_zero_shot_classifier(variables["params"], tokenizer, classnames, templates,
                                                    model=model)
  encode = jax.jit(lambda t: model.apply(variables, t, method="encode_text"))
  want = []
  for name in classnames:
    e = np.asarray(encode(tokenizer.tokenize([t.format(name) for t in templates], 8)), np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    want.append(e.mean(0) / np.linalg.norm(e.mean(0)))
  chex.assert_trees_all_close(classifier, np.asarray(want, np.float32), atol=1e-5)
  images = np.random.default_rng(0).normal(size=(5, 16, 16, 3)).astype(np.float32)
  labels, probs = zero_shot.predict(variables, classifier, images, model=model)
  image_emb = np.asarray(model.apply(variables, images)["image"])
  np.testing.assert_array_equal(labels, np.argmax(image_emb @ np.asarray(want).T, axis=1))
  np.testing.assert_allclose(np.asarray(probs).sum(1), 1.0, rtol=1e-5)
  with pytest.raises(ValueError, match="exactly one"):
    zero_shot.build_zero_shot_classifier(variables, tokenizer, classnames, ["no placeholder"], model=model)


def test_shipped_imagenet_templates():
  assert len(IMAGENET_TEMPLATES) == 80 == len(set(IMAGENET_TEMPLATES))
  assert all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)
  assert "a photo of a {}." in IMAGENET_TEMPLATES


def test_shapes_prompts_ensemble_over_other_attributes():
  prompts = zero_shot.shapes_prompts()
  names, templates = prompts["shape"]
  assert len(templates) == 3 * 8 * 9 and templates[0] == "a small red {} in the top left"
  names, templates = prompts["colour"]
  assert names[0] == "red" and len(templates) == 3 * 6 * 9 and templates[1] == "a small {} circle in the top"


def test_linear_probe_reads_what_the_features_encode():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, 600)
  noise = rng.normal(size=(600, 8))
  encoded = noise + 4.0 * np.eye(3, 8)[labels]  # The label is linearly readable from the first 3 features.
  assert zero_shot.linear_probe_accuracy(encoded[:400], labels[:400], encoded[400:], labels[400:]) > 0.95
  # Features that carry nothing about the label: the probe stays near chance (1/3) on held-out examples.
  assert zero_shot.linear_probe_accuracy(noise[:400], labels[:400], noise[400:], labels[400:]) < 0.5
