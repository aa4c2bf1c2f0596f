"""DenseNet121 for CIFAR-10 (Huang et al., 2017; the common CIFAR reference: growth
rate 32, blocks [6, 12, 24, 16], reduction 0.5, a 3x3 stem without norm or pooling).

6,956,298 weights; 120 activation sites (+1200 with PAU), Appendix A.4.2. The paper gives
no Maxout count (its DenseNet Maxout runs did not finish). Here, as in ResNet101,
the convolution feeding a unit is widened with its BN (conv1 -> BN2 -> unit in a
bottleneck); the units that follow a norm of concatenated features get the
norm widened over k copies of its input (``NormAct``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import ConvNormAct, NormAct


class DenseBottleneck(nn.Module):
    """BN -> unit -> conv1x1 (4g) -> BN -> unit -> conv3x3 (g), output concatenated."""

    def __init__(self, in_planes, growth_rate, act_factory):
        super().__init__()
        self.pre = NormAct(in_planes, act_factory)
        self.conv1 = ConvNormAct(in_planes, 4 * growth_rate, act_factory, 1)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([self.conv2(self.conv1(self.pre(x))), x], 1)


class Transition(nn.Sequential):
    def __init__(self, in_planes, out_planes, act_factory):
        super().__init__(
            NormAct(in_planes, act_factory),
            nn.Conv2d(in_planes, out_planes, 1, bias=False),
            nn.AvgPool2d(2),
        )


class DenseNetCIFAR(nn.Module):
    input_size = (3, 32, 32)
    num_classes = 10

    def __init__(
        self,
        act_factory,
        num_blocks=(6, 12, 24, 16),
        growth_rate: int = 32,
        reduction: float = 0.5,
        num_classes: int = 10,
        in_channels: int = 3,
    ):
        super().__init__()
        planes = 2 * growth_rate
        self.stem = nn.Conv2d(in_channels, planes, 3, padding=1, bias=False)
        stages = []
        for i, n in enumerate(num_blocks):
            layers = []
            for _ in range(n):
                layers.append(DenseBottleneck(planes, growth_rate, act_factory))
                planes += growth_rate
            if i < len(num_blocks) - 1:
                out_planes = int(math.floor(planes * reduction))
                layers.append(Transition(planes, out_planes, act_factory))
                planes = out_planes
            stages.append(nn.Sequential(*layers))
        self.features = nn.Sequential(*stages)
        self.final = NormAct(planes, act_factory)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x):
        out = self.final(self.features(self.stem(x)))
        return self.linear(self.pool(out).flatten(1))
