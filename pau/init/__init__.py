"""Initial PAU coefficients (SPEC §2, the paper's Table 6 for orders 5/4)."""
from __future__ import annotations

import torch

# Table 6, fitted for form A on [-3, 3].
_TABLE6_FORM_A = {
    ("leaky_relu", 0.01): (
        [0.02979246, 0.61837738, 2.32335207, 3.05202660, 1.48548002, 0.25103717],
        [1.14201226, 4.39322834, 0.87154450, 0.34720652],
    ),
}


def coefficients(name: str, m: int = 5, n: int = 4, form: str = "A", **params):
    """(numerator, denominator) float64 tensors approximating the named function."""
    key = (name, params.get("negative_slope", 0.01))
    if key in _TABLE6_FORM_A and (m, n, form) == (5, 4, "A"):
        num, den = _TABLE6_FORM_A[key]
        return torch.tensor(num, dtype=torch.float64), torch.tensor(den, dtype=torch.float64)
    raise ValueError(f"no initial coefficients for {name!r} at m={m}, n={n}, form={form}")
