"""The activation functions PAUs can start from, as NumPy functions.

Each target names how its coefficients are obtained: ``exact`` (identity),
``pade`` (the paper's method for the analytic sigmoid, tanh and swish) or
``least_squares`` (the paper's method for the ReLU family; also used for the
other functions, whose Taylor series have irrational coefficients or which
are not analytic at 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; libm's is exact to 1 ulp


def _sigmoid(x):
    # exp of a non-positive argument only, so no overflow warning for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _softplus(x, beta):
    return np.logaddexp(0.0, beta * x) / beta


@dataclass(frozen=True)
class Target:
    name: str
    fn: Callable[..., np.ndarray]
    method: str
    defaults: dict = field(default_factory=dict)
    label: str = ""

    def resolve(self, params: dict) -> dict:
        """Defaults filled in, values as floats; unknown parameters refused."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            allowed = ", ".join(self.defaults) or "none"
            raise ValueError(f"{self.name!r} takes parameters ({allowed}); got unexpected {', '.join(unknown)}")
        out = {}
        for k, default in self.defaults.items():
            v = params.get(k, default)
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"parameter {k} of {self.name!r} must be a number, got {v!r}") from None
            if not np.isfinite(v):
                raise ValueError(f"parameter {k} of {self.name!r} must be finite, got {v!r}")
            out[k] = v
        if self.name in ("softplus",) and out["beta"] <= 0:
            raise ValueError(f"softplus needs beta > 0, got {out['beta']}")
        return out

    def function(self, **params) -> Callable[[np.ndarray], np.ndarray]:
        p = self.resolve(params)
        return lambda x: self.fn(np.asarray(x, dtype=np.float64), **p)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("identity", lambda x: x.copy(), "exact", {}, "Identity"),
        Target("relu", lambda x: np.maximum(x, 0.0), "least_squares", {}, "ReLU"),
        Target(
            "leaky_relu",
            lambda x, negative_slope: np.where(x >= 0, x, negative_slope * x),
            "least_squares",
            {"negative_slope": 0.01},
            "LReLU",
        ),
        Target("sigmoid", _sigmoid, "pade", {}, "Sigmoid"),
        Target("tanh", lambda x: np.tanh(x), "pade", {}, "Tanh"),
        Target("swish", lambda x, beta: x * _sigmoid(beta * x), "pade", {"beta": 1.0}, "Swish"),
        Target("gelu", lambda x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))), "least_squares", {}, "GELU"),
        Target("elu", _elu, "least_squares", {"alpha": 1.0}, "ELU"),
        Target("softplus", _softplus, "least_squares", {"beta": 1.0}, "Softplus"),
        # On [-3, 3] ReLU6 is ReLU; kept as its own name so a converted ReLU6 says what it replaced.
        Target("relu6", lambda x: np.clip(x, 0.0, 6.0), "least_squares", {}, "ReLU6"),
        Target("hardswish", lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0, "least_squares", {}, "Hardswish"),
    )
}
NAMES = tuple(TARGETS)


def get(name: str) -> Target:
    if not isinstance(name, str) or name not in TARGETS:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(NAMES)}")
    return TARGETS[name]


def target(name: str, **params) -> Callable[[np.ndarray], np.ndarray]:
    """The named activation as a NumPy function of x."""
    return get(name).function(**params)
