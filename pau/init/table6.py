"""Table 6 of the paper (Appendix A.1), as printed: orders 5/4, form A.

Sigmoid, tanh and swish are given as fractions (Padé approximants; swish in
terms of its beta), the ReLU family as decimals (least-squares fits on
[-3, 3]). Kept verbatim, errors included: ``scripts/fit_coefficients.py``
checks every entry and ``pau.init`` documents the ones that do not hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

COEFFICIENT_NAMES = ("a0", "a1", "a2", "a3", "a4", "a5", "b1", "b2", "b3", "b4")


@dataclass(frozen=True)
class Column:
    label: str
    name: str
    params: tuple  # ((key, value), ...)
    method: str  # how the paper says it was obtained
    printed: tuple  # the ten entries as printed, as text

    def values(self, beta: float = 1.0) -> tuple[list[float], list[float]]:
        """(numerator, denominator) of the printed entries (swish at ``beta``)."""
        vals = [_value(t, beta) for t in self.printed]
        return vals[:6], vals[6:]


def _value(text: str, beta: float) -> float:
    if "b" not in text:
        return float(Fraction(text))
    # "3b^2/56": coefficient * beta^power / divisor
    head, _, div = text.partition("/")
    coef, _, power = head.partition("b")
    coef = float(coef) if coef else 1.0
    power = int(power.lstrip("^")) if power else 1
    return coef * beta**power / float(div)


COLUMNS = (
    Column("Sigmoid", "sigmoid", (), "pade",
           ("1/2", "1/4", "1/18", "1/144", "1/2016", "1/60480", "0", "1/9", "0", "1/10008")),
    Column("Tanh", "tanh", (), "pade",
           ("0", "1", "0", "1/9", "0", "1/945", "0", "4/9", "0", "1/63")),
    Column("Swish", "swish", (), "pade",
           ("0", "1/2", "b/4", "3b^2/56", "b^3/168", "b^4/3360", "0", "3b^2/28", "0", "b^4/1680")),
    Column("ReLU", "relu", (), "least_squares",
           ("0.02996348", "0.61690165", "2.37539147", "3.06608078", "1.52474449",
            "0.25281987", "1.19160814", "4.40811795", "0.91111034", "0.34885983")),
    Column("LReLU(0.01)", "leaky_relu", (("negative_slope", 0.01),), "least_squares",
           ("0.02979246", "0.61837738", "2.32335207", "3.05202660", "1.48548002",
            "0.25103717", "1.14201226", "4.39322834", "0.87154450", "0.34720652")),
    Column("LReLU(0.20)", "leaky_relu", (("negative_slope", 0.2),), "least_squares",
           ("0.02557776", "0.66182815", "1.58182975", "2.94478759", "0.95287794",
            "0.23319681", "0.50962605", "4.18376890", "0.37832090", "0.32407314")),
    Column("LReLU(0.25)", "leaky_relu", (("negative_slope", 0.25),), "least_squares",
           ("0.02423485", "0.67709718", "1.43858363", "2.95497990", "0.85679722",
            "0.23229612", "0.41014746", "4.14691964", "0.30292546", "0.32002850")),
    Column("LReLU(0.30)", "leaky_relu", (("negative_slope", 0.3),), "least_squares",
           ("0.02282366", "0.69358438", "1.30847432", "2.97681599", "0.77165297",
            "0.23252265", "0.32849543", "4.11557902", "0.24155603", "0.31659365")),
    Column("LReLU(-0.5)", "leaky_relu", (("negative_slope", -0.5),), "least_squares",
           ("0.02650441", "0.80772912", "13.56611639", "7.00217900", "11.61477781",
            "0.68720375", "13.70648993", "6.07781733", "12.32535229", "0.54006880")),
)


def column(name: str, params: dict) -> Column | None:
    """The printed column for a name and its parameters (swish: any beta)."""
    for col in COLUMNS:
        if col.name != name:
            continue
        if name == "swish" or all(params.get(k) == v for k, v in col.params):
            return col
    return None
