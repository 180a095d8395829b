"""OpenAI CLIP import: a small torch model with OpenAI's module structure (so its state dict has the real names
and layouts) is randomly initialized, imported, and both towers are compared with the torch forward."""

import collections

import chex
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from jvision.models.weights.openai_clip import import_openai_clip  # noqa: E402


class QuickGELU(nn.Module):
  def forward(self, x):
    return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
  def __init__(self, width, heads):
    super().__init__()
    self.attn = nn.MultiheadAttention(width, heads)
    self.ln_1 = nn.LayerNorm(width)
    self.mlp = nn.Sequential(collections.OrderedDict(
        c_fc=nn.Linear(width, 4 * width), gelu=QuickGELU(), c_proj=nn.Linear(4 * width, width)))
    self.ln_2 = nn.LayerNorm(width)

  def forward(self, x, mask=None):  # x: [L, N, D]
    y = self.ln_1(x)
    x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
    return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
  def __init__(self, width, layers, heads):
    super().__init__()
    self.resblocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])

  def forward(self, x, mask=None):
    for block in self.resblocks:
      x = block(x, mask)
    return x


class Visual(nn.Module):
  def __init__(self, size, patch, width, layers, heads, embed):
    super().__init__()
    self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
    self.class_embedding = nn.Parameter(torch.randn(width))
    self.positional_embedding = nn.Parameter(torch.randn((size // patch) ** 2 + 1, width) * 0.1)
    self.ln_pre = nn.LayerNorm(width)
    self.transformer = Transformer(width, layers, heads)
    self.ln_post = nn.LayerNorm(width)
    self.proj = nn.Parameter(torch.randn(width, embed) * width ** -0.5)

  def forward(self, x):  # x: [N, 3, H, W]
    x = self.conv1(x).flatten(2).transpose(1, 2)
    x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + self.positional_embedding
    x = self.transformer(self.ln_pre(x).transpose(0, 1)).transpose(0, 1)
    return self.ln_post(x[:, 0]) @ self.proj


class TorchCLIP(nn.Module):
  def __init__(self, embed=16, size=16, patch=4, vision_width=64, vision_layers=2, context=7, vocab=40,
               width=64, layers=2):
    super().__init__()
    self.visual = Visual(size, patch, vision_width, vision_layers, vision_width // 64, embed)
    self.transformer = Transformer(width, layers, width // 64)
    self.token_embedding = nn.Embedding(vocab, width)
    self.positional_embedding = nn.Parameter(torch.randn(context, width) * 0.1)
    self.ln_final = nn.LayerNorm(width)
    self.text_projection = nn.Parameter(torch.randn(width, embed) * width ** -0.5)
    self.logit_scale = nn.Parameter(torch.tensor(2.5))
    self.context = context

  def encode_text(self, tokens):
    x = self.token_embedding(tokens) + self.positional_embedding
    mask = torch.full((self.context, self.context), float("-inf")).triu(1)
    x = self.ln_final(self.transformer(x.transpose(0, 1), mask).transpose(0, 1))
    return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ self.text_projection


def randomized_state_dict(model, seed=0):
  torch.manual_seed(seed)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
        p.copy_(1 + 0.1 * torch.randn_like(p))
      elif name.endswith("bias"):
        p.copy_(0.1 * torch.randn_like(p))
  return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_vit_clip_matches_torch_forward():
  reference = TorchCLIP().eval()
  state = randomized_state_dict(reference)
  model, variables = import_openai_clip(state)
  assert (model.vision, model.image_size, model.vision_patch_size, model.vision_layers) == ("vit", 16, 4, 2)
  assert (model.context_length, model.vocab_size, model.embed_dim) == (7, 40, 16)
  rng = np.random.default_rng(0)
  images = rng.normal(size=(2, 16, 16, 3)).astype(np.float32)
  tokens = np.array([[38, 5, 9, 39, 0, 0, 0], [38, 1, 2, 3, 4, 5, 39]], np.int32)
  out = model.apply(variables, jnp.asarray(images), jnp.asarray(tokens))
  with torch.no_grad():
    want_image = reference.visual(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    want_text = reference.encode_text(torch.from_numpy(tokens).long()).numpy()
  chex.assert_trees_all_close(out["image"], unit(want_image), atol=1e-5)
  chex.assert_trees_all_close(out["text"], unit(want_text), atol=1e-5)
  np.testing.assert_allclose(out["scale"], np.exp(2.5), rtol=1e-6)
  np.testing.assert_allclose(variables["params"]["logit_bias"], -10.0)


def test_unknown_and_mismatched_names_are_errors():
  state = randomized_state_dict(TorchCLIP())
  with pytest.raises(KeyError, match="not an OpenAI CLIP state dict"):
    import_openai_clip({k: v for k, v in state.items() if k != "token_embedding.weight"})
  bad = dict(state)
  bad["visual.ln_post.weight"] = np.ones(3, np.float32)
  with pytest.raises(ValueError, match="visual/ln_post/scale"):
    import_openai_clip(bad)
