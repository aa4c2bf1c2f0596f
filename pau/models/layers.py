"""Building blocks shared by the networks: where a unit sits and how Maxout widens it.

A unit that consumes ``k = factory.inputs_per_output`` input channels per output
channel (Maxout: k = 2) needs the layer in front of it to produce k times the
channels. The paper's parameter counts (Appendix A.4.2) fix two placements of the norm:

* ``norm_on_pieces=False`` (VGG-8, MobileNetV2): conv(k*C) -> unit -> BN(C); the
  norm keeps its C channels, so Maxout adds only convolution weights;
* ``norm_on_pieces=True`` (ResNet101, DenseNet121): conv(k*C) -> BN(k*C) -> unit.

For k = 1 both are the usual conv -> BN -> unit.
"""
from __future__ import annotations

from torch import nn


class ConvNormAct(nn.Sequential):
    """Convolution, batch norm and one activation unit (children 0, 1, 2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        act_factory,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        bias: bool = False,
        norm_on_pieces: bool = True,
    ):
        k = act_factory.inputs_per_output
        if padding is None:
            padding = (kernel_size - 1) // 2
        conv = nn.Conv2d(in_channels, k * out_channels, kernel_size, stride, padding, groups=groups, bias=bias)
        act = act_factory(num_channels=out_channels)
        if k == 1 or norm_on_pieces:
            super().__init__(conv, nn.BatchNorm2d(k * out_channels), act)
        else:
            super().__init__(conv, act, nn.BatchNorm2d(out_channels))
        self.out_channels = out_channels


class RepeatChannels(nn.Module):
    """Each channel repeated ``k`` times in place (c0, c0, c1, c1, ... for k = 2).

    Feeds a widened norm when the tensor in front of a unit cannot be widened at its
    source (a concatenation of earlier features, DenseNet): the k pieces then differ by
    the norm's per-piece affine parameters.
    """

    def __init__(self, k: int):
        super().__init__()
        self.k = int(k)

    def forward(self, x):
        return x if self.k == 1 else x.repeat_interleave(self.k, dim=1)

    def extra_repr(self) -> str:
        return f"k={self.k}"


class NormAct(nn.Sequential):
    """Pre-activation batch norm and unit; widened through ``RepeatChannels`` for k > 1."""

    def __init__(self, channels: int, act_factory):
        k = act_factory.inputs_per_output
        layers = [] if k == 1 else [RepeatChannels(k)]
        super().__init__(*layers, nn.BatchNorm2d(k * channels), act_factory(num_channels=channels))
