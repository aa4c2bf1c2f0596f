"""The variance gain of a unit, for initialising the weights of the layer around it."""
from __future__ import annotations

import math

import torch

from ..math.reference import pau_reference

# The standard normal density is below 1e-31 beyond |x| = 12; the trapezoid rule on a
# fine grid is accurate to ~1e-9 here even for units with a kink (|x| in form A).
_HALF_WIDTH, _POINTS = 12.0, 48_001


def calculate_gain(unit) -> float:
    """gain = 1 / sqrt(E[F(X)^2]) for X ~ N(0, 1), F the unit's (clean) function.

    The gain ``torch.nn.init`` expects for the layer whose inputs come out of the
    unit: a layer with weights of std ``gain / sqrt(fan_in)`` (``nn.init.normal_``,
    or ``gain=`` of ``xavier_*_`` and ``orthogonal_``) keeps a unit-variance signal
    at unit second moment through the unit (He et al., 2015). It is ``sqrt(2)`` for
    ReLU (``nn.init.calculate_gain("relu")``) and 1 for the identity. A unit with
    several coefficient sets (``groups``) takes the mean of their second moments,
    i.e. channels split evenly between groups. RPAU's noise is not included.
    """
    if not all(hasattr(unit, k) for k in ("numerator", "denominator", "form")):
        raise ValueError(f"calculate_gain takes a PAU or RPAU, got {type(unit).__name__}")
    x = torch.linspace(-_HALF_WIDTH, _HALF_WIDTH, _POINTS, dtype=torch.float64)
    density = torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    num = unit.numerator.detach().double().cpu()
    den = unit.denominator.detach().double().cpu()
    if num.dim() == 1:
        num, den = num.unsqueeze(0), den.unsqueeze(0)
    moments = []
    for a, b in zip(num, den):
        y = pau_reference(x, a, b, unit.form)
        moments.append(torch.trapezoid(y**2 * density, x))
    second_moment = float(torch.stack(moments).mean())
    if not math.isfinite(second_moment) or second_moment <= 0:
        raise ValueError(f"the unit's second moment under N(0, 1) is {second_moment}; no gain exists")
    return 1.0 / math.sqrt(second_moment)
