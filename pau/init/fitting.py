"""Computing the project's coefficients for a name, orders and form (no cache)."""
from __future__ import annotations

import numpy as np

from ..fit import least_squares, pade, real_poles
from ..fit.rational import check_orders, identity_coefficients
from ..math.forms import check_form
from .entries import INTERVAL, Entry, approximation_errors
from .targets import TARGETS, get, target


def check(name, m, n, form, params) -> tuple[str, dict, int, int, str]:
    """Validated (name, params with defaults, m, n, form)."""
    tgt = get(name)
    m, n = check_orders(m, n)
    return tgt.name, tgt.resolve(params), m, n, check_form(form)


def _pade_in_form(name: str, params: dict, m: int, n: int, form: str):
    """The Padé approximant in ``form``'s layout, and whether the form can hold it."""
    try:
        a, b = pade(name, m, n, **params)
    except ValueError:
        return None, False
    odd, even = b[0::2], b[1::2]  # b_1, b_3, ... and b_2, b_4, ...
    if form == "N":
        ok = not real_poles(a, b, INTERVAL, "N")
    else:
        ok = bool(np.all(odd == 0.0) and np.all(even >= 0.0))
    if form == "C":
        b = np.concatenate([[0.9], b])
    return (a, b), ok


def compute(name: str, m: int = 5, n: int = 4, form: str = "A", **params) -> Entry:
    """Compute the project's coefficients, bypassing every cache."""
    name, params, m, n, form = check(name, m, n, form, params)
    method = TARGETS[name].method
    a = b = None
    if method == "exact" and m >= 1:
        a, b = identity_coefficients(m, n, form)
    elif method == "pade":
        start, ok = _pade_in_form(name, params, m, n, form)
        if ok:
            a, b = start
        else:
            fit = least_squares(target(name, **params), m, n, form, INTERVAL, starts=[start] if start else ())
            a, b, method = fit.numerator, fit.denominator, "least_squares"
    if a is None:
        fit = least_squares(target(name, **params), m, n, form, INTERVAL)
        a, b, method = fit.numerator, fit.denominator, "least_squares"
    max_err, rms_err = approximation_errors(name, params, a, b, form)
    return Entry(
        name=name, params=tuple(sorted(params.items())), m=m, n=n, form=form, method=method,
        numerator=tuple(float(v) for v in a), denominator=tuple(float(v) for v in b),
        max_error=max_err, rms_error=rms_err,
    )
