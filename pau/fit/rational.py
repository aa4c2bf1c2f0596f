"""NumPy evaluation of a PAU in each denominator form, for fitting.

Same mathematics as ``pau.math.reference.pau_reference`` (tested against it),
in float64 NumPy so that an optimiser can call it cheaply.
"""
from __future__ import annotations

import numpy as np

from ..math.forms import FORM_OFFSET, check_form, denominator_length


def check_orders(m, n) -> tuple[int, int]:
    for name, v in (("m", m), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"order {name} must be an integer >= 0, got {v!r}")
    return int(m), int(n)


def split(theta: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator) of a flat coefficient vector."""
    return theta[: m + 1], theta[m + 1 :]


def _powers(x: np.ndarray, k: int) -> np.ndarray:
    """Columns x^0 .. x^k, shape (len(x), k + 1)."""
    return np.vander(x, k + 1, increasing=True)


def denominator_values(x, denominator, form: str) -> np.ndarray:
    """Q(x) in ``form``."""
    form = check_form(form)
    b = np.asarray(denominator, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if form == "A":
        return 1.0 + _powers(np.abs(x), len(b))[:, 1:] @ np.abs(b)
    if form in ("B", "N"):
        s = _powers(x, len(b))[:, 1:] @ b
        return FORM_OFFSET[form] + (np.abs(s) if form == "B" else s)
    s = _powers(x, max(len(b) - 1, 0)) @ b  # C: b_0 .. b_n inside the absolute value
    return FORM_OFFSET["C"] + np.abs(s)


def evaluate(x, numerator, denominator, form: str = "A") -> np.ndarray:
    """F(x) = P(x) / Q(x) in ``form`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.asarray(numerator, dtype=np.float64)
    p = _powers(x.ravel(), len(a) - 1) @ a
    q = denominator_values(x.ravel(), denominator, form)
    return (p / q).reshape(x.shape)


def real_poles(numerator, denominator, interval, form: str = "N") -> list[float]:
    """Real zeros of Q in the closed interval (only form N can have any)."""
    if check_form(form) != "N":
        return []
    lo, hi = interval
    coeffs = np.concatenate([[1.0], np.asarray(denominator, dtype=np.float64)])
    nz = np.flatnonzero(coeffs)
    coeffs = coeffs[: nz[-1] + 1]
    if len(coeffs) < 2:
        return []
    roots = np.roots(coeffs[::-1])
    out = [float(r.real) for r in roots if abs(r.imag) <= 1e-9 * max(1.0, abs(r)) and lo <= r.real <= hi]
    return sorted(out)


def identity_coefficients(m: int, n: int, form: str) -> tuple[np.ndarray, np.ndarray]:
    """F(x) = x exactly (needs m >= 1); in form C, b_0 = 0.9 makes Q = 1."""
    a = np.zeros(m + 1)
    a[1] = 1.0
    b = np.zeros(denominator_length(n, form))
    if form == "C":
        b[0] = 0.9
    return a, b
