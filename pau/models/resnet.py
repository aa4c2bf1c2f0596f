"""ResNet101 for CIFAR-10 (He et al., 2016; the common CIFAR reference: 3x3 stem,
no stem max-pool, bottleneck blocks [3, 4, 23, 3], projection shortcuts).

42,512,970 weights; 100 activation sites (+1000 with PAU); 75,454,090 with Maxout
(Appendix A.4.2). That Maxout count is met exactly by widening, with their BNs, the stem,
the first two convolutions of every block and the projection shortcuts, and
nothing else. The unit after the residual sum then sees k pieces per channel:
the projection shortcut supplies k distinct pieces, the residual branch (and an
identity shortcut) is the same in all k. Consequently, with Maxout an identity
block ends in max(r + x, r + x) = r + x, the identity mapping of pre-activation
ResNets, while a projection block ends in r + max_j(shortcut_j).
"""
from __future__ import annotations

from torch import nn

from .layers import ConvNormAct


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride, act_factory):
        super().__init__()
        out_planes = self.expansion * planes
        self.k = k = act_factory.inputs_per_output
        self.conv1 = ConvNormAct(in_planes, planes, act_factory, 1)
        self.conv2 = ConvNormAct(planes, planes, act_factory, 3, stride)
        self.conv3 = nn.Sequential(nn.Conv2d(planes, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes))
        self.shortcut = None
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, k * out_planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(k * out_planes),
            )
        self.act = act_factory(num_channels=out_planes)

    def forward(self, x):
        residual = self.conv3(self.conv2(self.conv1(x)))
        if self.shortcut is None:
            out = residual + x
            return self.act(out if self.k == 1 else out.repeat_interleave(self.k, dim=1))
        if self.k > 1:
            residual = residual.repeat_interleave(self.k, dim=1)
        return self.act(residual + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    input_size = (3, 32, 32)
    num_classes = 10

    def __init__(self, act_factory, num_blocks=(3, 4, 23, 3), num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = ConvNormAct(in_channels, 64, act_factory, 3)
        stages, in_planes = [], 64
        for planes, n, stride in zip((64, 128, 256, 512), num_blocks, (1, 2, 2, 2)):
            blocks = []
            for i in range(n):
                blocks.append(Bottleneck(in_planes, planes, stride if i == 0 else 1, act_factory))
                in_planes = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def forward(self, x):
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.linear(self.pool(out).flatten(1))
