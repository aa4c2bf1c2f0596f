"""One set of initial coefficients (``Entry``), its canonical key and its error."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..fit.lsq import DEFAULT_POINTS
from ..fit.rational import evaluate
from .targets import target

INTERVAL = (-3.0, 3.0)  # where every initialisation is fitted and measured (Appendix A.1)


@dataclass(frozen=True)
class Entry:
    """One set of initial coefficients and how well it approximates its target."""

    name: str
    params: tuple  # ((key, value), ...), sorted
    m: int
    n: int
    form: str
    method: str  # exact | pade | least_squares | paper | released
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


def approximation_errors(name: str, params: dict, numerator, denominator, form: str,
                         points: int = DEFAULT_POINTS) -> tuple[float, float]:
    """(max, RMS) of PAU - target on a uniform grid of ``points`` points of ``INTERVAL``."""
    x = np.linspace(*INTERVAL, points)
    r = evaluate(x, numerator, denominator, form) - target(name, **params)(x)
    return float(np.max(np.abs(r))), float(np.sqrt(np.mean(r**2)))
