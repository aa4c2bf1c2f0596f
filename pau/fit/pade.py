"""Padé approximants at 0, in exact rational arithmetic.

The [m/n] approximant P/Q, Q(0) = 1, matches the Taylor series of f through
x^(m+n). Its denominator solves a Toeplitz system that is ill-conditioned in
floating point, so everything here is done with ``fractions.Fraction``.
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from .rational import check_orders
from .series import _exact, taylor_coefficients


def _solve_minimal(rows: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction] | None:
    """One solution of rows @ q = rhs, free unknowns set to 0; None if inconsistent.

    Pivots are taken from the lowest power of Q upwards, so that in a
    degenerate (singular) Padé block the highest powers are the free ones and
    the returned denominator has the lowest possible degree.
    """
    nvar = len(rows[0]) if rows else 0
    aug = [list(r) + [v] for r, v in zip(rows, rhs)]
    pivots: list[int] = []
    r = 0
    for col in range(nvar):
        p = next((i for i in range(r, len(aug)) if aug[i][col] != 0), None)
        if p is None:
            continue
        aug[r], aug[p] = aug[p], aug[r]
        piv = aug[r][col]
        aug[r] = [v / piv for v in aug[r]]
        for i in range(len(aug)):
            if i != r and aug[i][col] != 0:
                f = aug[i][col]
                aug[i] = [vi - f * vr for vi, vr in zip(aug[i], aug[r])]
        pivots.append(col)
        r += 1
    if any(all(v == 0 for v in row[:-1]) and row[-1] != 0 for row in aug):
        return None
    q = [Fraction(0)] * nvar
    for i, col in enumerate(pivots):
        q[col] = aug[i][-1]
    return q


def pade(f, m: int, n: int, *, exact: bool = False, **params):
    """The [m/n] Padé approximant of ``f`` at 0.

    Args:
        f: Taylor coefficients c_0, c_1, ... (at least m+n+1; ints, Fractions,
            strings such as "1/3", floats or mpmath numbers; used exactly), a
            name with an exact series ("exp", "tanh", "sigmoid", "swish"; the
            last two take ``beta``), or an analytic callable (see
            ``taylor_coefficients``).
        m, n: numerator and denominator orders.
        exact: return ``Fraction`` tuples instead of float64 arrays.

    Returns:
        ``(numerator, denominator)``: a_0..a_m and b_1..b_n with
        Q(x) = 1 + b_1 x + ... + b_n x^n, the library's layout (form N; the
        same numbers serve forms A and B when the odd b_k vanish and the even
        ones are >= 0).

    Raises:
        ValueError: bad orders, too few coefficients, or no approximant with
        Q(0) = 1 exists at these orders (a degenerate block of the Padé table).
    """
    m, n = check_orders(m, n)
    if isinstance(f, str) or callable(f):
        c = taylor_coefficients(f, m + n, **params)
    elif isinstance(f, (Sequence, np.ndarray)):
        if params:
            raise ValueError("parameters only apply to a named function or a callable")
        c = [_exact(v) for v in f]
        if len(c) < m + n + 1:
            raise ValueError(f"[{m}/{n}] needs {m + n + 1} Taylor coefficients c_0..c_{m + n}, got {len(c)}")
    else:
        raise ValueError(
            f"expected Taylor coefficients, a function name or a callable, got {type(f).__name__}"
        )

    def coef(k: int) -> Fraction:
        return c[k] if 0 <= k < len(c) else Fraction(0)

    # sum_{j=0..n} q_j c_{k-j} = 0 for k = m+1 .. m+n, with q_0 = 1.
    rows = [[coef(k - j) for j in range(1, n + 1)] for k in range(m + 1, m + n + 1)]
    rhs = [-coef(k) for k in range(m + 1, m + n + 1)]
    q = _solve_minimal(rows, rhs) if n else []
    if q is None:
        raise ValueError(
            f"the [{m}/{n}] Padé approximant with Q(0) = 1 does not exist for these Taylor "
            "coefficients (degenerate block of the Padé table); try neighbouring orders"
        )
    qq = [Fraction(1)] + q
    p = [sum(qq[j] * coef(k - j) for j in range(0, min(k, n) + 1)) for k in range(m + 1)]
    if exact:
        return tuple(p), tuple(q)
    return np.array([float(v) for v in p]), np.array([float(v) for v in q])
