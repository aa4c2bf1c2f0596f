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
=============  ==================  ============================================

A Padé approximant is used as is only when the form can represent it exactly
(odd b_k zero and even b_k >= 0 for forms A, B and C, where C gets b_0 = 0.9;
no pole in [-3, 3] for form N); otherwise that function is fitted by least
squares too. Least squares means the mean squared error on a uniform grid of
``pau.fit.DEFAULT_POINTS`` points of ``INTERVAL`` (``pau.fit.least_squares``).

Sources (keyword ``source``):

- ``"fit"``: the project's own coefficients. Orders 5/4 of the common
  functions, in every form, ship in ``coefficients_v1.json`` (written by
  ``scripts/fit_coefficients.py``), so building a PAU never runs an
  optimiser; any other name, parameter, order or form is computed on first use
  (deterministic, about a second) and cached in memory and on disk under
  ``$PAU_CACHE_DIR`` (default ``~/.cache/pau``; set it empty to disable).
- ``"paper"``: Table 6 verbatim (orders 5/4, form A only; ``table6``).
- ``"auto"`` (default): Table 6 for the ReLU family at 5/4 in form A, the
  fits everywhere else.

Decision on Table 6 (checked by ``scripts/fit_coefficients.py``, see
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
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..fit import DEFAULT_POINTS, evaluate, least_squares, pade, real_poles
from ..fit.rational import check_orders, identity_coefficients
from ..math.forms import check_form
from . import table6
from .targets import NAMES, TARGETS, get, target

DATA_VERSION = 1
DATA_FILE = f"coefficients_v{DATA_VERSION}.json"
INTERVAL = (-3.0, 3.0)
SOURCES = ("auto", "fit", "paper")
# What the data file holds: orders 5/4, every form, these names and parameters.
SHIPPED = (
    ("identity", {}),
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.01}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": 0.25}),
    ("leaky_relu", {"negative_slope": 0.3}),
    ("leaky_relu", {"negative_slope": -0.5}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("swish", {"beta": 1.0}),
    ("gelu", {}),
    ("elu", {"alpha": 1.0}),
    ("softplus", {"beta": 1.0}),
)

__all__ = [
    "DATA_VERSION", "INTERVAL", "NAMES", "SHIPPED", "SOURCES", "TARGETS",
    "Entry", "coefficients", "compute", "entry_key", "fitted", "paper", "target",
]


@dataclass(frozen=True)
class Entry:
    """One set of initial coefficients and how well it approximates its target."""

    name: str
    params: tuple  # ((key, value), ...), sorted
    m: int
    n: int
    form: str
    method: str  # exact | pade | least_squares | paper
    numerator: tuple
    denominator: tuple
    max_error: float
    rms_error: float

    @property
    def key(self) -> str:
        return entry_key(self.name, dict(self.params), self.m, self.n, self.form)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.tensor(self.numerator, dtype=torch.float64),
            torch.tensor(self.denominator, dtype=torch.float64),
        )

    def to_json(self) -> dict:
        d = asdict(self)
        d["params"] = dict(self.params)
        d["numerator"], d["denominator"] = list(self.numerator), list(self.denominator)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Entry":
        return cls(
            name=d["name"], params=tuple(sorted(d["params"].items())), m=int(d["m"]), n=int(d["n"]),
            form=d["form"], method=d["method"], numerator=tuple(float(v) for v in d["numerator"]),
            denominator=tuple(float(v) for v in d["denominator"]),
            max_error=float(d["max_error"]), rms_error=float(d["rms_error"]),
        )


def entry_key(name: str, params: dict, m: int, n: int, form: str) -> str:
    """Canonical key, e.g. ``leaky_relu(negative_slope=0.01)|5/4|A``."""
    p = ",".join(f"{k}={float(v)!r}" for k, v in sorted(params.items()))
    return f"{name}({p})|{m}/{n}|{form}"


def _check(name, m, n, form, params) -> tuple[str, dict, int, int, str]:
    tgt = get(name)
    m, n = check_orders(m, n)
    return tgt.name, tgt.resolve(params), m, n, check_form(form)


def _errors(name: str, params: dict, numerator, denominator, form: str) -> tuple[float, float]:
    x = np.linspace(*INTERVAL, DEFAULT_POINTS)
    r = evaluate(x, numerator, denominator, form) - target(name, **params)(x)
    return float(np.max(np.abs(r))), float(np.sqrt(np.mean(r**2)))


def _pade_in_form(name: str, params: dict, m: int, n: int, form: str):
    """The Padé approximant in ``form``'s layout, or None where the form cannot hold it."""
    try:
        a, b = pade(name, m, n, **params)
    except ValueError:
        return None, None
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
    name, params, m, n, form = _check(name, m, n, form, params)
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
    max_err, rms_err = _errors(name, params, a, b, form)
    return Entry(
        name=name, params=tuple(sorted(params.items())), m=m, n=n, form=form, method=method,
        numerator=tuple(float(v) for v in a), denominator=tuple(float(v) for v in b),
        max_error=max_err, rms_error=rms_err,
    )


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, Entry]:
    try:
        text = resources.files(__package__).joinpath(DATA_FILE).read_text()
    except FileNotFoundError:
        return {}
    data = json.loads(text)
    if data.get("version") != DATA_VERSION:
        raise RuntimeError(f"{DATA_FILE} has version {data.get('version')}, expected {DATA_VERSION}")
    return {k: Entry.from_json(v) for k, v in data["entries"].items()}


def _cache_dir() -> Path | None:
    path = os.environ.get("PAU_CACHE_DIR")
    if path is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "pau")
    return Path(path) / f"init-v{DATA_VERSION}" if path else None


def _disk_key(key: str) -> str:
    # The fitting grid is part of what a cached result means.
    full = f"v{DATA_VERSION}|{key}|points={DEFAULT_POINTS}|interval={INTERVAL}"
    return hashlib.sha256(full.encode()).hexdigest()[:32]


def _disk_load(key: str) -> Entry | None:
    directory = _cache_dir()
    if directory is None:
        return None
    try:
        d = json.loads((directory / f"{_disk_key(key)}.json").read_text())
        return Entry.from_json(d) if d.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _disk_store(entry: Entry) -> None:
    directory = _cache_dir()
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_disk_key(entry.key)}.json"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"key": entry.key, **entry.to_json()}))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs a recomputation


@functools.lru_cache(maxsize=256)
def _fitted(name: str, params: tuple, m: int, n: int, form: str) -> Entry:
    key = entry_key(name, dict(params), m, n, form)
    entry = _shipped().get(key) or _disk_load(key)
    if entry is None:
        entry = compute(name, m, n, form, **dict(params))
        _disk_store(entry)
    return entry


def fitted(name: str, m: int = 5, n: int = 4, form: str = "A", **params) -> Entry:
    """The project's coefficients: shipped data, else memory, disk, or computed."""
    name, params, m, n, form = _check(name, m, n, form, params)
    return _fitted(name, tuple(sorted(params.items())), m, n, form)


def paper(name: str, **params) -> Entry:
    """Table 6 as printed (orders 5/4, form A)."""
    name, params, _, _, _ = _check(name, 5, 4, "A", params)
    col = table6.column(name, params)
    if col is None:
        avail = ", ".join(c.label for c in table6.COLUMNS)
        raise ValueError(
            f"Table 6 has no column for {name}{params or ''}; it prints {avail} (swish for any beta)"
        )
    a, b = col.values(beta=params.get("beta", 1.0))
    max_err, rms_err = _errors(name, params, a, b, "A")
    return Entry(name, tuple(sorted(params.items())), 5, 4, "A", "paper", tuple(a), tuple(b), max_err, rms_err)


def coefficients(name: str, m: int = 5, n: int = 4, form: str = "A", *, source: str = "auto", **params):
    """(numerator, denominator) float64 tensors approximating the named activation.

    Args:
        name: one of ``NAMES``.
        m, n: numerator and denominator orders.
        form: denominator form (A, B, C, N).
        source: "auto", "fit" or "paper" (see the module docstring).
        **params: the function's parameters, e.g. ``negative_slope`` for
            leaky_relu (default 0.01), ``beta`` for swish and softplus,
            ``alpha`` for elu.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid choices: {', '.join(SOURCES)}")
    name, params, m, n, form = _check(name, m, n, form, params)
    if source == "paper" and (m, n, form) != (5, 4, "A"):
        raise ValueError(f"the paper's Table 6 is for m=5, n=4, form A only; got m={m}, n={n}, form {form}")
    use_paper = source == "paper" or (
        source == "auto"
        and (m, n, form) == (5, 4, "A")
        and TARGETS[name].method == "least_squares"
        and table6.column(name, params) is not None
    )
    entry = paper(name, **params) if use_paper else fitted(name, m, n, form, **params)
    return entry.tensors()
