"""Initial PAU coefficients: a PAU starts as an approximation of a known activation.

``coefficients(name, m, n, form, **params)`` returns ``(numerator, denominator)``
float64 tensors in the library's layout (a_0..a_m; b_1..b_n, or b_0..b_n for
form C) for one of ``NAMES``:

=============  ==================  ============================================
name           parameters          how (orders m/n, any form)
=============  ==================  ============================================
identity       -                   exact: a_1 = 1 (needs m >= 1)
relu           -                   least squares on [-3, 3]
leaky_relu     negative_slope=0.01 least squares on [-3, 3]
sigmoid        -                   Padé approximant at 0
tanh           -                   Padé approximant at 0
swish          beta=1.0            Padé approximant at 0 of x sigmoid(beta x)
gelu           -                   least squares on [-3, 3]
elu            alpha=1.0           least squares on [-3, 3]
softplus       beta=1.0            least squares on [-3, 3]
relu6          -                   least squares on [-3, 3] (there, ReLU6 = ReLU)
hardswish      -                   least squares on [-3, 3]
=============  ==================  ============================================

and, by name, the released code's coefficients (``released``; orders 5/4, form A):

========================  =====================================================
pade_optimized_leakyrelu  the authors' public code's start for every PAU
                          (``get_constants_for_inits`` in its ``Pade.py``); an
                          approximation of LReLU(0.01) on [-3, 3] that differs
                          from Table 6's: slope 0.505 at 0 without a kink
                          (Table 6: 0.584 right, 0.652 left), tails of slope
                          0.505 (Table 6: 0.723)
========================  =====================================================

A Padé approximant is used as is only when the form can represent it exactly
(odd b_k zero and even b_k >= 0 for forms A, B and C, where C gets b_0 = 0.9;
no pole in [-3, 3] for form N); otherwise that function is fitted by least
squares too. Least squares means the mean squared error on a uniform grid of
``pau.fit.DEFAULT_POINTS`` points of ``INTERVAL`` (``pau.fit.least_squares``).

Sources (keyword ``source``):

- ``"fit"``: the project's own coefficients. Orders 5/4 of the common
  functions, in every form, ship in ``coefficients_v1.json`` (written by
  ``scripts/fit_coefficients.py``), so building a PAU never runs an
  optimiser and needs no scipy; any other name, parameter, order or form is
  computed on first use (deterministic, about a second; needs ``pau[fit]``) and
  cached in memory and on disk under ``$PAU_CACHE_DIR`` (``pau.cache``; set it
  empty to keep fits in memory only).
- ``"paper"``: Table 6 verbatim (orders 5/4, form A only; ``table6``).
- ``"auto"`` (default): Table 6 for the ReLU family at 5/4 in form A, the
  fits everywhere else.

Decision on Table 6 (checked by ``table6_check``, run by
``scripts/fit_coefficients.py``; see
``results/table6.md``). Its ReLU-family columns are least-squares optima for
form A: a local re-fit from them on a grid of step 1e-5 lowers the RMS error
by at most 1e-9 (relative) and moves no coefficient by more than 1e-4; read
in forms B or N the same numbers are 1.7 to 600 times worse. So ``"auto"``
returns them verbatim and the paper's experiments, which start from
LReLU(0.01), start from exactly the printed numbers. The tanh and swish
columns (swish for any beta) are the exact [5/4] Padé approximants. The
sigmoid column is not: b_4 is printed 1/10008 where the approximant has
1/1008 (max error on [-3, 3] 3.4e-2 instead of 9.8e-7), so ``"auto"`` and
``"fit"`` give the approximant and only ``"paper"`` the printed value.

The package by job: ``targets`` (the functions), ``entries`` (one set of
coefficients and its error), ``fitting`` (computing one), ``datafile`` (the
shipped file: reading and writing it), ``store`` (memory and disk caches),
``table6`` and ``table6_check`` (the paper's table and its check), ``released``
(the authors' code's named coefficients), ``gain``
(``calculate_gain``, for initialising the layer after a unit).
"""
from __future__ import annotations

from . import released, table6
from .datafile import DATA_FILE, DATA_VERSION, SHIPPED
from .entries import INTERVAL, Entry, approximation_errors, entry_key
from .fitting import check, compute
from .gain import calculate_gain
from .store import cached_fit
from .targets import NAMES, TARGETS, target

SOURCES = ("auto", "fit", "paper")
RELEASED_NAMES = released.NAMES

__all__ = [
    "DATA_FILE", "DATA_VERSION", "INTERVAL", "NAMES", "RELEASED_NAMES", "SHIPPED", "SOURCES", "TARGETS",
    "Entry", "calculate_gain", "coefficients", "compute", "entry", "entry_key", "fitted", "paper", "target",
]


def fitted(name: str, m: int = 5, n: int = 4, form: str = "A", **params) -> Entry:
    """The project's coefficients: shipped data, else memory, disk, or computed."""
    name, params, m, n, form = check(name, m, n, form, params)
    return cached_fit(name, tuple(sorted(params.items())), m, n, form)


def paper(name: str, **params) -> Entry:
    """Table 6 as printed (orders 5/4, form A)."""
    name, params, _, _, _ = check(name, 5, 4, "A", params)
    col = table6.column(name, params)
    if col is None:
        avail = ", ".join(c.label for c in table6.COLUMNS)
        raise ValueError(
            f"Table 6 has no column for {name}{params or ''}; it prints {avail} (swish for any beta)"
        )
    a, b = col.values(beta=params.get("beta", 1.0))
    max_err, rms_err = approximation_errors(name, params, a, b, "A")
    return Entry(name, tuple(sorted(params.items())), 5, 4, "A", "paper", tuple(a), tuple(b), max_err, rms_err)


def entry(name: str, m: int = 5, n: int = 4, form: str = "A", *, source: str = "auto", **params) -> Entry:
    """The ``Entry`` (coefficients, method, max and RMS error on ``INTERVAL``) that
    ``coefficients`` returns the tensors of."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid choices: {', '.join(SOURCES)}")
    if name in RELEASED_NAMES:
        if source != "auto":
            raise ValueError(
                f"{name!r} is the released code's fixed coefficients and has no source={source!r}; "
                "drop source=, or use name='leaky_relu' for Table 6's (source='paper') or the fitted values"
            )
        return released.entry(name, m, n, form, **params)
    if not isinstance(name, str) or name not in TARGETS:
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(NAMES)}, "
            f"or the released code's {', '.join(RELEASED_NAMES)}"
        )
    name, params, m, n, form = check(name, m, n, form, params)
    if source == "paper" and (m, n, form) != (5, 4, "A"):
        raise ValueError(f"the paper's Table 6 is for m=5, n=4, form A only; got m={m}, n={n}, form {form}")
    use_paper = source == "paper" or (
        source == "auto"
        and (m, n, form) == (5, 4, "A")
        and TARGETS[name].method == "least_squares"
        and table6.column(name, params) is not None
    )
    return paper(name, **params) if use_paper else fitted(name, m, n, form, **params)


def coefficients(name: str, m: int = 5, n: int = 4, form: str = "A", *, source: str = "auto", **params):
    """(numerator, denominator) float64 tensors approximating the named activation.

    Args:
        name: one of ``NAMES``, or of ``RELEASED_NAMES`` (orders 5/4, form A only).
        m, n: numerator and denominator orders.
        form: denominator form (A, B, C, N).
        source: "auto", "fit" or "paper" (see the module docstring).
        **params: the function's parameters, e.g. ``negative_slope`` for
            leaky_relu (default 0.01), ``beta`` for swish and softplus,
            ``alpha`` for elu.
    """
    return entry(name, m, n, form, source=source, **params).tensors()
