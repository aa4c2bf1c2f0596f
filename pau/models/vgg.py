"""VGG-8 for CIFAR-10 (Appendix A.4.2): 3,918,858 weights, +50 with PAU, 7,829,642 with Maxout.

Five conv3x3 -> BN -> unit -> max-pool stages (64, 128, 256, 512, 512 channels,
convolutions with bias, as in the common CIFAR VGG reference) and linear 512 -> 10.
With Maxout each convolution doubles its output and BN stays at C channels after
the unit; that is the placement the paper's Maxout count implies.
"""
from __future__ import annotations

from torch import nn

from .layers import ConvNormAct


class VGG8(nn.Module):
    input_size = (3, 32, 32)
    num_classes = 10
    cfg = (64, "M", 128, "M", 256, "M", 512, "M", 512, "M")

    def __init__(self, act_factory, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        layers, channels = [], in_channels
        for v in self.cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers.append(ConvNormAct(channels, v, act_factory, 3, bias=True, norm_on_pieces=False))
                channels = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
