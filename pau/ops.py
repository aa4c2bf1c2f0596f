from __future__ import annotations

import torch

from .math.reference import pau_reference


def pau(x, numerator, denominator, form="A", *, alpha=0.0, seed=None):
    return pau_reference(x, numerator, denominator, form, alpha=alpha, seed=seed)
