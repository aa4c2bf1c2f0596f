"""Taylor coefficients at 0: exact (``Fraction``) for the named analytic
functions, high precision for any other callable.

Padé approximants solve a Toeplitz system built from these coefficients; it is
ill-conditioned in floating point, which is why the named series stay exact and
an arbitrary callable is expanded with 50-digit arithmetic (``mpmath``) before
being turned into exact rationals.
"""
from __future__ import annotations

from fractions import Fraction
from math import factorial

import numpy as np

Series = list  # list[Fraction], c_0 .. c_N


def _div(num: Series, den: Series) -> Series:
    """Power series num / den (den[0] != 0), truncated to len(num)."""
    out: Series = []
    for k in range(len(num)):
        s = num[k] - sum(out[j] * den[k - j] for j in range(max(0, k - len(den) + 1), k))
        out.append(s / den[0])
    return out


def _exp(order: int, scale: Fraction = Fraction(1)) -> Series:
    return [scale**k / factorial(k) for k in range(order + 1)]


def _tanh(order: int) -> Series:
    e = _exp(order)
    sinh = [c if k % 2 else Fraction(0) for k, c in enumerate(e)]
    cosh = [Fraction(0) if k % 2 else c for k, c in enumerate(e)]
    return _div(sinh, cosh)


def _sigmoid(order: int, beta: Fraction = Fraction(1)) -> Series:
    one = [Fraction(1)] + [Fraction(0)] * order
    den = [o + e for o, e in zip(one, _exp(order, -beta))]  # 1 + exp(-beta x)
    return _div(one, den)


def _swish(order: int, beta: Fraction = Fraction(1)) -> Series:
    # x * sigmoid(beta x): shift by one power.
    return [Fraction(0)] + _sigmoid(order - 1, beta) if order >= 1 else [Fraction(0)]


def _exact(value) -> Fraction:
    """Exact rational of a number (a float's binary value, not its decimal)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if isinstance(value, str):
        return Fraction(value)
    if hasattr(value, "_mpf_"):  # mpmath.mpf: (sign, mantissa, exponent, bits)
        sign, man, exp, _ = value._mpf_
        if not man and exp:
            raise ValueError(f"Taylor coefficient {value!r} is not finite")
        return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"Taylor coefficient {value!r} is not finite")
    return Fraction(v)


SERIES = {
    "exp": (lambda order, **p: _exp(order), ()),
    "tanh": (lambda order, **p: _tanh(order), ()),
    "sigmoid": (lambda order, beta=1: _sigmoid(order, _exact(beta)), ("beta",)),
    "swish": (lambda order, beta=1: _swish(order, _exact(beta)), ("beta",)),
}


def taylor_coefficients(f, order: int, **params) -> list[Fraction]:
    """c_0 .. c_order of f at 0, as Fractions.

    ``f`` is one of ``SERIES`` (exact), or a callable that accepts ``mpmath``
    numbers (expanded with 50 significant digits) or, failing that, complex
    NumPy arrays (Cauchy integral on the circle |z| = ``radius``, default 0.5,
    which must lie inside the disc where f is analytic).
    """
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    if isinstance(f, str):
        if f not in SERIES:
            raise ValueError(f"no exact Taylor series for {f!r}; valid names: {', '.join(sorted(SERIES))}")
        fn, allowed = SERIES[f]
        unknown = set(params) - set(allowed)
        if unknown:
            raise ValueError(
                f"{f!r} takes parameters ({', '.join(allowed) or 'none'}), got {', '.join(sorted(unknown))}"
            )
        return fn(order, **params)
    if not callable(f):
        raise ValueError(f"expected a function name, a callable or Taylor coefficients, got {type(f).__name__}")
    radius = params.pop("radius", 0.5)
    if params:
        raise ValueError(f"a callable takes only 'radius' here, got {', '.join(sorted(params))}")
    try:
        return _taylor_mpmath(f, order)
    except (TypeError, AttributeError):
        return _taylor_cauchy(f, order, radius)


def _taylor_mpmath(f, order: int) -> list[Fraction]:
    try:
        import mpmath
    except ImportError as err:  # pragma: no cover - mpmath ships with torch's sympy
        raise TypeError("mpmath is not installed") from err
    with mpmath.workdps(50):
        coeffs = mpmath.taylor(f, mpmath.mpf(0), order)
        return [_exact(mpmath.mpf(c)) for c in coeffs]


def _taylor_cauchy(f, order: int, radius: float) -> list[Fraction]:
    # c_k = (1 / 2 pi i) \oint f(z) / z^(k+1) dz, by the trapezoid rule (spectrally accurate).
    npts = max(64, 4 * (order + 1))
    z = radius * np.exp(2j * np.pi * np.arange(npts) / npts)
    values = np.asarray(f(z), dtype=np.complex128)
    c = np.fft.fft(values)[: order + 1] / npts / radius ** np.arange(order + 1)
    return [_exact(v) for v in c.real]
