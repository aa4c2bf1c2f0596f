"""Learnable and structural baselines of the paper (SPEC §3) that ``torch.nn`` lacks.

Conventions shared by every unit here:

* channels are along dim 1 (``(N, C)`` or ``(N, C, *spatial)``);
* ``per_channel = True`` marks a unit that learns one set of parameters per channel
  and therefore takes ``num_channels``; the others learn one set per layer;
* ``inputs_per_output`` is how many input channels feed one output channel
  (2 for Maxout, 1 for everything else); networks read it to widen the layer that
  precedes the unit.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


def _channel_view(param: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A (C,) parameter shaped to broadcast against x's dim 1."""
    if x.dim() < 2:
        raise ValueError(f"per-channel units need inputs of shape (N, C, ...); got {tuple(x.shape)}")
    if x.shape[1] != param.shape[0]:
        raise ValueError(f"input has {x.shape[1]} channels, the unit was built for {param.shape[0]}")
    return param.reshape((1, -1) + (1,) * (x.dim() - 2))


class Maxout(nn.Module):
    """Maxout (Goodfellow et al., 2013) over groups of ``pieces`` adjacent channels.

    Output channel c is the maximum of input channels ``c*pieces .. c*pieces + pieces-1``.
    The linear pieces z_ij = x^T W_ij + b_ij are the layer in front of the unit, which
    the networks build with ``pieces`` times the channels. Adjacent grouping keeps a
    widened depthwise convolution depthwise: its group g emits channels g*pieces...
    """

    per_channel = False
    inputs_per_output = 2  # the paper's k; instances built with other ``pieces`` override it

    def __init__(self, pieces: int = 2):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"pieces must be >= 1, got {pieces}")
        self.inputs_per_output = int(pieces)

    @staticmethod
    def inputs_per_output_for(pieces: int = 2, **_unused) -> int:
        """What an instance built with these arguments reports, without building one."""
        return int(pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.inputs_per_output
        if x.dim() < 2 or x.shape[1] % k:
            raise ValueError(f"Maxout with {k} pieces needs a channel count divisible by {k}; got {tuple(x.shape)}")
        return x.unflatten(1, (x.shape[1] // k, k)).amax(dim=2)

    def extra_repr(self) -> str:
        return f"pieces={self.inputs_per_output}"


class Mixture(nn.Module):
    """Learned linear combination of identity and ReLU (Manessi & Rozza, 2018).

    F(x) = w_id * x + w_relu * relu(x), one pair of weights per layer, both starting
    at 1/2 (an equal mix, i.e. a leaky ReLU of slope 1/2 at initialisation).
    """

    per_channel = False
    inputs_per_output = 1

    def __init__(self, init: Sequence[float] = (0.5, 0.5)):
        super().__init__()
        if len(init) != 2:
            raise ValueError(f"Mixture combines identity and ReLU: init needs 2 weights, got {len(init)}")
        self.weight = nn.Parameter(torch.tensor([float(v) for v in init]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype)
        return w[0] * x + w[1] * torch.relu(x)


class SLAF(nn.Module):
    """Self-learnable activation (Goyal et al., 2019): a learned Taylor polynomial.

    F(x) = sum_{i=0..degree} a_i x^i / i!, one coefficient vector per layer. It starts
    as the identity (a_1 = 1, the rest 0) unless ``init`` gives the coefficients.
    Unbounded for large |x| by construction; the paper reports it diverging.
    """

    per_channel = False
    inputs_per_output = 1

    def __init__(self, degree: int = 2, init: Sequence[float] | None = None):
        super().__init__()
        if degree < 1:
            raise ValueError(f"degree must be >= 1, got {degree}")
        if init is None:
            init = [0.0, 1.0] + [0.0] * (degree - 1)
        if len(init) != degree + 1:
            raise ValueError(f"degree {degree} needs {degree + 1} coefficients, got {len(init)}")
        self.degree = int(degree)
        self.coefficients = nn.Parameter(torch.tensor([float(v) for v in init]))
        self.register_buffer(
            "inverse_factorials",
            torch.tensor([1.0 / math.factorial(i) for i in range(degree + 1)]),
            persistent=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = (self.coefficients * self.inverse_factorials).to(x.dtype)
        out = c[self.degree].expand_as(x)
        for i in range(self.degree - 1, -1, -1):  # Horner
            out = out * x + c[i]
        return out

    def extra_repr(self) -> str:
        return f"degree={self.degree}"


class APL(nn.Module):
    """Adaptive piecewise linear unit (Agostinelli et al., 2015).

    F(x) = max(0, x) + sum_{s=1..S} a_s max(0, -x + b_s), with a_s, b_s learned per
    channel. Initialised as in the authors' release: a ~ U(-0.2, 0.2), b ~ N(0, 0.5).
    """

    per_channel = True
    inputs_per_output = 1

    def __init__(self, num_channels: int, hinges: int = 5):
        super().__init__()
        if num_channels < 1 or hinges < 1:
            raise ValueError(f"need num_channels >= 1 and hinges >= 1, got {num_channels}, {hinges}")
        self.num_channels, self.hinges = int(num_channels), int(hinges)
        self.slopes = nn.Parameter(torch.empty(hinges, num_channels).uniform_(-0.2, 0.2))
        self.offsets = nn.Parameter(torch.empty(hinges, num_channels).normal_(0.0, 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(x)
        for s in range(self.hinges):
            a = _channel_view(self.slopes[s], x).to(x.dtype)
            b = _channel_view(self.offsets[s], x).to(x.dtype)
            out = out + a * torch.relu(b - x)
        return out

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}, hinges={self.hinges}"


class SReLU(nn.Module):
    """S-shaped ReLU (Jin et al., 2016): three linear pieces, four parameters per channel.

    F(x) = t_r + a_r (x - t_r)  for x >= t_r
           x                    for t_l < x < t_r
           t_l + a_l (x - t_l)  for x <= t_l
    The defaults start it as a leaky ReLU of slope ``a_left`` (t_l = 0, a_r = 1, where
    t_r has no effect until a_r moves).
    """

    per_channel = True
    inputs_per_output = 1

    def __init__(
        self,
        num_channels: int,
        t_left: float = 0.0,
        a_left: float = 0.01,
        t_right: float = 1.0,
        a_right: float = 1.0,
    ):
        super().__init__()
        if num_channels < 1:
            raise ValueError(f"num_channels must be >= 1, got {num_channels}")
        self.num_channels = int(num_channels)
        self.t_left = nn.Parameter(torch.full((num_channels,), float(t_left)))
        self.a_left = nn.Parameter(torch.full((num_channels,), float(a_left)))
        self.t_right = nn.Parameter(torch.full((num_channels,), float(t_right)))
        self.a_right = nn.Parameter(torch.full((num_channels,), float(a_right)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tl, al = _channel_view(self.t_left, x).to(x.dtype), _channel_view(self.a_left, x).to(x.dtype)
        tr, ar = _channel_view(self.t_right, x).to(x.dtype), _channel_view(self.a_right, x).to(x.dtype)
        right = tr + ar * (x - tr)
        left = tl + al * (x - tl)
        return torch.where(x >= tr, right, torch.where(x <= tl, left, x))

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}"
