"""MobileNetV2 in two variants (Sandler et al., 2018).

* ``MobileNetV2CIFAR``: the common CIFAR reference (stride-1 stem and second stage,
  an expansion convolution in every block, projection shortcuts where a stride-1
  block changes width). 2,296,922 weights, 36 activation sites (+360 with PAU),
  3,524,506 with Maxout (every convolution feeding a unit doubles its output, the
  depthwise ones included; BN stays at C channels after the unit), Appendix A.4.2.
* ``MobileNetV2ImageNet``: torchvision's ``mobilenet_v2`` layer for layer, with the
  same parameter names; with ReLU6 its ``state_dict`` loads into torchvision's model
  and back. 35 activation sites.
"""
from __future__ import annotations

from torch import nn

from .layers import ConvNormAct


class _CIFARBlock(nn.Module):
    """expand 1x1 -> unit, depthwise 3x3 -> unit, project 1x1 (linear bottleneck)."""

    def __init__(self, in_planes, out_planes, expansion, stride, act_factory):
        super().__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.expand = ConvNormAct(in_planes, planes, act_factory, 1, norm_on_pieces=False)
        self.depthwise = ConvNormAct(planes, planes, act_factory, 3, stride, groups=planes, norm_on_pieces=False)
        self.project = nn.Sequential(nn.Conv2d(planes, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes))
        self.shortcut = None
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes))

    def forward(self, x):
        out = self.project(self.depthwise(self.expand(x)))
        if self.stride != 1:
            return out
        return out + (x if self.shortcut is None else self.shortcut(x))


class MobileNetV2CIFAR(nn.Module):
    input_size = (3, 32, 32)
    num_classes = 10
    # (expansion, out_planes, num_blocks, stride); stride 1 in stage 2 for 32x32 inputs
    cfg = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, act_factory, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = ConvNormAct(in_channels, 32, act_factory, 3, norm_on_pieces=False)
        blocks, in_planes = [], 32
        for expansion, out_planes, num_blocks, stride in self.cfg:
            for i in range(num_blocks):
                blocks.append(_CIFARBlock(in_planes, out_planes, expansion, stride if i == 0 else 1, act_factory))
                in_planes = out_planes
        self.layers = nn.Sequential(*blocks)
        self.head = ConvNormAct(320, 1280, act_factory, 1, norm_on_pieces=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(1280, num_classes)

    def forward(self, x):
        out = self.head(self.layers(self.stem(x)))
        return self.linear(self.pool(out).flatten(1))


class _InvertedResidual(nn.Module):
    """torchvision's block: [expand 1x1 -> unit], depthwise 3x3 -> unit, project 1x1;
    identity residual only where stride is 1 and the width is unchanged."""

    def __init__(self, inp, oup, stride, expand_ratio, act_factory):
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(inp, hidden, act_factory, 1, norm_on_pieces=False))
        layers += [
            ConvNormAct(hidden, hidden, act_factory, 3, stride, groups=hidden, norm_on_pieces=False),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2ImageNet(nn.Module):
    input_size = (3, 224, 224)
    num_classes = 1000
    # (t, c, n, s) of the MobileNetV2 paper, width multiplier 1
    cfg = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, act_factory, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2):
        super().__init__()
        features = [ConvNormAct(in_channels, 32, act_factory, 3, 2, norm_on_pieces=False)]
        inp = 32
        for t, c, n, s in self.cfg:
            for i in range(n):
                features.append(_InvertedResidual(inp, c, s if i == 0 else 1, t, act_factory))
                inp = c
        features.append(ConvNormAct(inp, 1280, act_factory, 1, norm_on_pieces=False))
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(1280, num_classes))
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))
