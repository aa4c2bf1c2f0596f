"""Learnable and structural baselines of the paper (Appendix A.2) that ``torch.nn`` lacks.

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

    Against the original: Manessi & Rozza learn combinations of base activations
    (identity, ReLU, tanh, ...) and study several ways of combining them; the paper
    uses the {identity, ReLU} mixture with learnable weights (Appendix A.2, Section
    4.3), which is what this unit is, unconstrained. The start at (1/2, 1/2) is this
    project's choice (the paper gives none). Zhao et al. (2017), cited beside
    Maxout in the paper's introduction, is a different unit (mixed maxout), not
    this one.
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

    Against the original: Goyal et al. learn a weighted sum of monomials, with a
    transformation against exploding values (the paper, Section 1: "a
    transformation strategy to avoid exploding gradients"); their released code
    (github mohit1997/PAF) normalises each power x^1..x^k by batch statistics and
    learns the weights and a bias per channel. This unit has none of that: no
    normalisation, one coefficient vector per layer, the 1/i! scaling, degree 2
    and the identity start are this project's choices, which may be why it does
    not diverge where the paper's did.
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

    Against the original: Agostinelli et al. learn a_s, b_s for every hidden unit and
    add an L2 penalty on the slopes a_s to the loss (weight 0.001 in their paper),
    because without it large slopes can be balanced by small weights. Here the
    parameters are shared over the spatial positions of a channel, and the penalty
    is an option: ``slope_penalty`` (default 0, no penalty) sets its weight,
    ``penalty()`` returns ``slope_penalty * sum(a_s ** 2)``, and
    ``pau.activations.regularization(model)`` sums it over a network for the
    training loop to add to its loss.
    """

    per_channel = True
    inputs_per_output = 1

    def __init__(self, num_channels: int, hinges: int = 5, slope_penalty: float = 0.0):
        super().__init__()
        if num_channels < 1 or hinges < 1:
            raise ValueError(f"need num_channels >= 1 and hinges >= 1, got {num_channels}, {hinges}")
        slope_penalty = float(slope_penalty)
        if not math.isfinite(slope_penalty) or slope_penalty < 0:
            raise ValueError(f"slope_penalty is the weight of an L2 penalty: a number >= 0, got {slope_penalty}")
        self.num_channels, self.hinges = int(num_channels), int(hinges)
        self.slope_penalty = slope_penalty
        self.slopes = nn.Parameter(torch.empty(hinges, num_channels).uniform_(-0.2, 0.2))
        self.offsets = nn.Parameter(torch.empty(hinges, num_channels).normal_(0.0, 0.5))

    def penalty(self) -> torch.Tensor:
        """The L2 penalty on the slopes, ``slope_penalty * sum(a_s ** 2)`` (a scalar
        with a gradient; exactly 0 when ``slope_penalty`` is 0)."""
        if self.slope_penalty == 0.0:
            return self.slopes.new_zeros(())
        return self.slope_penalty * self.slopes.pow(2).sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(x)
        for s in range(self.hinges):
            a = _channel_view(self.slopes[s], x).to(x.dtype)
            b = _channel_view(self.offsets[s], x).to(x.dtype)
            out = out + a * torch.relu(b - x)
        return out

    def extra_repr(self) -> str:
        extra = f", slope_penalty={self.slope_penalty}" if self.slope_penalty else ""
        return f"num_channels={self.num_channels}, hinges={self.hinges}{extra}"


class SReLU(nn.Module):
    """S-shaped ReLU (Jin et al., 2016): three linear pieces, four parameters per channel.

    F(x) = t_r + a_r (x - t_r)  for x >= t_r
           x                    for t_l < x < t_r
           t_l + a_l (x - t_l)  for x <= t_l
    The defaults start it as a leaky ReLU of slope ``a_left`` (t_l = 0, a_r = 1, where
    t_r has no effect until a_r moves).

    Against the original: Jin et al. also start SReLU as a leaky ReLU, but keep its
    parameters frozen for the first training epochs and then set each channel's t_r
    from the inputs that channel has seen (a high quantile of them) before learning
    all four. Here the unit trains from its fixed start by default; the original's
    schedule is available as options: ``frozen=True`` (or ``freeze()``) keeps all
    four parameters out of the graph, so they get no gradient and an optimiser does
    not move them; ``init_from_batch(x, quantile)`` sets t_r per channel to that
    quantile of a batch of the unit's inputs; ``unfreeze()`` ends the warm-up.
    ``pau.activations.freeze_srelu(model)`` and
    ``pau.activations.init_srelu_from_batch(model, inputs)`` do this for a network.
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
        frozen: bool = False,
    ):
        super().__init__()
        if num_channels < 1:
            raise ValueError(f"num_channels must be >= 1, got {num_channels}")
        self.num_channels = int(num_channels)
        self.frozen = bool(frozen)
        self.t_left = nn.Parameter(torch.full((num_channels,), float(t_left)))
        self.a_left = nn.Parameter(torch.full((num_channels,), float(a_left)))
        self.t_right = nn.Parameter(torch.full((num_channels,), float(t_right)))
        self.a_right = nn.Parameter(torch.full((num_channels,), float(a_right)))

    def freeze(self) -> "SReLU":
        """Keep the four parameters fixed (no gradient) until ``unfreeze()``."""
        self.frozen = True
        return self

    def unfreeze(self) -> "SReLU":
        self.frozen = False
        return self

    @torch.no_grad()
    def init_from_batch(self, x: torch.Tensor, quantile: float = 0.9) -> torch.Tensor:
        """Set t_r of every channel to the ``quantile`` of that channel's values in
        ``x`` (shape (N, C, ...), the unit's input; linear interpolation between
        order statistics, as ``numpy.quantile``). Returns the new t_r."""
        quantile = float(quantile)
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must be in [0, 1] (e.g. 0.9), got {quantile}")
        _channel_view(self.t_right, x)  # checks the shape
        if x.numel() == 0:
            raise ValueError("init_from_batch needs a non-empty batch of the unit's inputs")
        values = x.detach().transpose(0, 1).reshape(x.shape[1], -1).to(torch.float64).sort(dim=1).values
        position = quantile * (values.shape[1] - 1)
        lo = int(math.floor(position))
        hi = min(lo + 1, values.shape[1] - 1)
        t = values[:, lo] + (values[:, hi] - values[:, lo]) * (position - lo)
        self.t_right.copy_(t.to(self.t_right.dtype))
        return self.t_right.detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = (self.t_left, self.a_left, self.t_right, self.a_right)
        if self.frozen:
            params = tuple(p.detach() for p in params)
        tl, al, tr, ar = (_channel_view(p, x).to(x.dtype) for p in params)
        right = tr + ar * (x - tr)
        left = tl + al * (x - tl)
        return torch.where(x >= tr, right, torch.where(x <= tl, left, x))

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}" + (", frozen=True" if self.frozen else "")
