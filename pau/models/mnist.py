"""The MNIST / Fashion-MNIST networks of Table 7 (Appendix A.3.1), on 32x32 inputs.

The per-layer counts of Table 7 fix the geometry: LeNet's third convolution
(5x5, 16 -> 120) must see a 5x5 map and VGG-8's classifier 512 features, which
both happen for 28x28 digits resized to 32x32 with unpadded LeNet convolutions
and padding 1 in VGG-8 (the authors' released code resizes to 32x32 too).
No batch norm; every unit follows a convolution or linear layer that produces
``inputs_per_output`` times its channels (Maxout widens only those layers).
"""
from __future__ import annotations

from torch import nn


class LeNet5(nn.Module):
    """conv5x5x6, act, pool, conv5x5x16, act, pool, conv5x5x120, act, fc84, act, fc10.

    61,706 weights (+ 40 with PAU) on 1x32x32 inputs; returns logits.
    """

    input_size = (1, 32, 32)
    num_classes = 10

    def __init__(self, act_factory, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        k = act_factory.inputs_per_output
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, k * 6, 5),
            act_factory(num_channels=6),
            nn.MaxPool2d(2),
            nn.Conv2d(6, k * 16, 5),
            act_factory(num_channels=16),
            nn.MaxPool2d(2),
            nn.Conv2d(16, k * 120, 5),
            act_factory(num_channels=120),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(120, k * 84),
            act_factory(num_channels=84),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class VGG8MNIST(nn.Module):
    """Five blocks (1, 1, 2, 2, 2 convolutions; 64..512 channels), one unit and a
    max-pool after each block, then linear 512 -> 10.

    9,224,458 weights (+ 50 with PAU) on 1x32x32 inputs; returns logits.
    """

    input_size = (1, 32, 32)
    num_classes = 10
    blocks = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))

    def __init__(self, act_factory, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        k = act_factory.inputs_per_output
        layers, channels = [], in_channels
        for num_convs, width in self.blocks:
            for i in range(num_convs):
                # only the convolution feeding the unit is widened
                out = k * width if i == num_convs - 1 else width
                layers.append(nn.Conv2d(channels, out, 3, padding=1))
                channels = width
            layers += [act_factory(num_channels=width), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
