"""Denominator forms and argument validation shared by every backend.

| form | Q(x)                               |
|------|------------------------------------|
| A    | 1 + sum_{k=1..n} |b_k| |x|^k       |
| B    | 1 + |sum_{k=1..n} b_k x^k|         |
| C    | 0.1 + |sum_{k=0..n} b_k x^k|       |
| N    | 1 + sum_{k=1..n} b_k x^k  (unsafe) |

The derivative of |z| at z = 0 is taken as +1 (sign(0) := +1) everywhere, in
every backend: a coefficient that starts at exactly 0 still receives a
gradient, as in the paper's own kernels.
"""
from __future__ import annotations

import torch

FORMS = ("A", "B", "C", "N")
FORM_IDS = {name: i for i, name in enumerate(FORMS)}
# Constant term of Q for each form; C carries its own b_0 inside the |.|.
FORM_OFFSET = {"A": 1.0, "B": 1.0, "C": 0.1, "N": 1.0}

_REDUCED_PRECISION = (torch.float16, torch.bfloat16)


def denominator_length(n: int, form: str) -> int:
    """Number of denominator coefficients for order ``n`` in ``form``."""
    return n + 1 if form == "C" else n


def denominator_order(length: int, form: str) -> int:
    """The order n implied by ``length`` denominator coefficients."""
    return length - 1 if form == "C" else length


def num_coefficients(m: int, n: int, form: str) -> int:
    return m + 1 + denominator_length(n, form)


def check_form(form: str) -> str:
    if not isinstance(form, str) or form.upper() not in FORMS:
        raise ValueError(f"unknown PAU form {form!r}; expected one of {', '.join(FORMS)}")
    return form.upper()


def check_arguments(x: torch.Tensor, numerator: torch.Tensor, denominator: torch.Tensor, form: str):
    """Validate the op's arguments; return ``(form, groups, m, n)``.

    Coefficients are 1-D (one set shared by all elements) or 2-D ``(G, k)``: one
    set per group of channels along dim 1 of ``x``.
    """
    form = check_form(form)
    for name, t in (("x", x), ("numerator", numerator), ("denominator", denominator)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    if numerator.dim() != denominator.dim() or numerator.dim() not in (1, 2):
        raise ValueError(
            "numerator and denominator must both be 1-D (m+1,) and (n,) "
            "[(n+1,) for form C], or both 2-D (groups, m+1) and (groups, n); "
            f"got shapes {tuple(numerator.shape)} and {tuple(denominator.shape)}"
        )
    if numerator.shape[-1] < 1:
        raise ValueError("numerator needs at least one coefficient (m >= 0)")
    if form == "C" and denominator.shape[-1] < 1:
        raise ValueError("form C needs at least one denominator coefficient b_0 (shape (n+1,))")
    groups = 1
    if numerator.dim() == 2:
        groups = numerator.shape[0]
        if groups < 1:
            raise ValueError("2-D coefficients need at least one group (shape (groups, k) with groups >= 1)")
        if denominator.shape[0] != groups:
            raise ValueError(
                f"numerator has {groups} groups but denominator has {denominator.shape[0]}; they must match"
            )
        if groups > 1:
            if x.dim() < 2:
                raise ValueError(f"grouped coefficients need x with a channel dim 1, got shape {tuple(x.shape)}")
            if x.shape[1] % groups:
                raise ValueError(
                    f"the {x.shape[1]} channels of x (dim 1) are not divisible into {groups} groups; "
                    "choose groups that divide the channel count"
                )
    for name, t in (("numerator", numerator), ("denominator", denominator)):
        if t.device != x.device:
            raise ValueError(f"{name} is on {t.device} but x is on {x.device}; move them to one device")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be floating point, got {t.dtype}")
        allowed = (x.dtype, torch.float32) if x.dtype in _REDUCED_PRECISION else (x.dtype,)
        if t.dtype not in allowed:
            raise ValueError(
                f"{name} has dtype {t.dtype} but x has {x.dtype}; expected "
                + " or ".join(str(a) for a in allowed)
                + " (cast the module or the input)"
            )
    if numerator.dtype != denominator.dtype:
        raise ValueError(f"numerator ({numerator.dtype}) and denominator ({denominator.dtype}) dtypes differ")
    m = numerator.shape[-1] - 1
    n = denominator_order(denominator.shape[-1], form)
    return form, groups, m, n


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float16/bfloat16 are evaluated in float32; other dtypes in themselves."""
    return torch.float32 if x.dtype in _REDUCED_PRECISION else x.dtype
