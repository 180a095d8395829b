"""The benchmark networks in PyTorch (optional): same architectures, batch and optimizer as jvision's.

Used by `train_throughput.py` only when `torch` is importable. The CNN mirrors `jvision.models.cnn.CNN` with
`train_throughput.CNN_KWARGS`; the ResNet-18 is torchvision's layout (7x7/2 stem, max-pool, 4 stages of 2
basic blocks, global average pool), written out here because torchvision is not required.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


def conv_bn_relu(cin, cout):
  return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def cnn(num_classes=10):
  layers, cin = [], 3
  for width in (64, 128, 256):
    layers += conv_bn_relu(cin, width) + conv_bn_relu(width, width) + [nn.MaxPool2d(2)]
    cin = width
  return nn.Sequential(*layers, nn.Flatten(), nn.Linear(256 * 4 * 4, 256), nn.ReLU(inplace=True),
                       nn.Linear(256, num_classes))


class BasicBlock(nn.Module):

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(cout)
    self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(cout)
    self.shortcut = nn.Sequential()
    if stride != 1 or cin != cout:
      self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

  def forward(self, x):
    y = torch.relu(self.bn1(self.conv1(x)))
    return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def resnet18(num_classes=10):
  layers, cin = [], 64
  for i, width in enumerate((64, 128, 256, 512)):
    layers += [BasicBlock(cin, width, 1 if i == 0 else 2), BasicBlock(width, width, 1)]
    cin = width
  return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                       nn.MaxPool2d(3, 2, 1), *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                       nn.Linear(512, num_classes))


def make_step(name: str, dtype: str, batch: int, channels_last: bool = False):
  """One SGD step of the network on a fixed random batch, as a function of no arguments."""
  torch.manual_seed(0)
  model = {"cnn": cnn, "resnet18": resnet18}[name]()
  images = torch.randn(batch, 3, 32, 32)
  if channels_last:
    model = model.to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)
  labels = torch.randint(0, 10, (batch,))
  optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
  model.train()

  def step():
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
      loss = nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()

  return step


def images_per_second(step, batch: int, steps: int, repeats: int, warmup: int = 3) -> float:
  """Median images/s over ``repeats`` timings of ``steps`` calls of ``step`` (from ``make_step``)."""
  for _ in range(warmup):
    step()
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      step()
    rates.append(batch * steps / (time.perf_counter() - start))
  return statistics.median(rates)
