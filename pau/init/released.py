"""Initial coefficients named after the authors' released code, not the paper.

The authors' public code (github ml-research/pau: ``get_constants_for_inits`` in
``pau/cuda/python_imp/Pade.py``) starts every PAU of its MNIST/Fashion-MNIST
script from ``"pade_optimized_leakyrelu"``, orders 5/4. Its CUDA kernels and its
Python reference evaluate ``P(x) / (1 + sum_k |b_k| |x|^k)``, which is form A
here, with the numerator a_0..a_5 and the denominator b_1..b_4 in this
library's order; so the released numbers are used as they are.

They are not Table 6's LReLU(0.01) column. Measured on [-3, 3] against
LReLU(0.01) (``tests/test_init.py`` checks each number):

==========================  =====================  =====================
                            released code          Table 6, LReLU(0.01)
==========================  =====================  =====================
F(0)                        0.0336                 0.0298
slope at 0 (right / left)   0.505 / 0.505          0.584 / 0.652
max / RMS error             0.0336 / 0.0055        0.0298 / 0.0050
F(-10), F(10)               -2.27, 7.83            -2.73, 9.02
slope as x -> +-inf         a_5/b_4 = 0.505        a_5/b_4 = 0.723
==========================  =====================  =====================

Its odd denominator coefficients are almost 0 (b_1 = 3.3e-6, b_3 = 5.1e-7), so
Q is nearly smooth at 0 and the unit has no kink there; Table 6's b_1 = 1.14
gives a kink. Both follow LReLU only on [-3, 3]; far outside it each tends to
a line of slope a_5/b_4 at both ends (for negative x too, where LReLU's slope
is 0.01).
"""
from __future__ import annotations

from dataclasses import dataclass

from .entries import Entry, approximation_errors


@dataclass(frozen=True)
class Released:
    name: str
    numerator: tuple  # a_0 .. a_m
    denominator: tuple  # b_1 .. b_n, form A
    approximates: tuple  # (pau.init name, parameters) it is measured against
    where: str

    @property
    def m(self) -> int:
        return len(self.numerator) - 1

    @property
    def n(self) -> int:
        return len(self.denominator)


RELEASED = {
    r.name: r
    for r in (
        Released(
            "pade_optimized_leakyrelu",
            (3.35583603e-02, 5.05000375e-01, 1.65343934e00, 2.01001052e00, 9.31901999e-01, 1.52424124e-01),
            (3.30847488e-06, 3.98021568e00, 5.12471206e-07, 3.01830109e-01),
            ("leaky_relu", {"negative_slope": 0.01}),
            "github ml-research/pau, pau/cuda/python_imp/Pade.py, get_constants_for_inits",
        ),
    )
}
NAMES = tuple(RELEASED)


def entry(name: str, m: int = 5, n: int = 4, form: str = "A", **params) -> Entry:
    """The released coefficients as an ``Entry`` (method ``"released"``; errors on
    [-3, 3] against the function they approximate)."""
    r = RELEASED[name]
    if params:
        raise ValueError(f"{name!r} is a fixed set of coefficients and takes no parameters; got {', '.join(params)}")
    if (m, n, str(form).upper()) != (r.m, r.n, "A"):
        raise ValueError(
            f"{name!r} is the released code's {r.m}/{r.n} coefficients in form A; build the PAU with "
            f"m={r.m}, n={r.n}, form='A', or use init='leaky_relu' for other orders and forms"
        )
    target, target_params = r.approximates
    max_err, rms_err = approximation_errors(target, target_params, r.numerator, r.denominator, "A")
    return Entry(name, (), r.m, r.n, "A", "released", r.numerator, r.denominator, max_err, rms_err)
