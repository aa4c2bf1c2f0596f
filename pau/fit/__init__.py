"""Fitting PAU coefficients to a function.

- ``pade``: the Padé approximant at 0 from Taylor coefficients (exact arithmetic);
- ``least_squares``: a least-squares fit in any denominator form on an interval
  (``refine``: the local refinement alone, from given coefficients);
- ``evaluate``: NumPy evaluation of a PAU in a form, the fitters' model.
"""
from .lsq import DEFAULT_POINTS, FitResult, PoleError, least_squares, refine
from .pade import pade
from .rational import evaluate, real_poles
from .series import taylor_coefficients

__all__ = [
    "DEFAULT_POINTS",
    "FitResult",
    "PoleError",
    "evaluate",
    "least_squares",
    "pade",
    "real_poles",
    "refine",
    "taylor_coefficients",
]
