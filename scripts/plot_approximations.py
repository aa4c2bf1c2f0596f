"""Fig. 1 of the paper: common activations and their PAU approximations.

ReLU, sigmoid, tanh, swish and LReLU(0.2) with the PAU (orders 5/4, form A)
that ``pau.PAU(init=...)`` starts from, evaluated by the library's reference
op, and the absolute error of each on [-3, 3].
Writes ``results/figures/fig1_approximations.png``.

Usage: python scripts/plot_approximations.py [--out results/figures]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.figure import Figure

from pau import init
from pau.functional import pau_reference

ROOT = Path(__file__).resolve().parents[1]

CURVES = (
    ("ReLU", "relu", {}),
    ("Sigmoid", "sigmoid", {}),
    ("Tanh", "tanh", {}),
    ("Swish", "swish", {"beta": 1.0}),
    ("Leaky ReLU (0.20)", "leaky_relu", {"negative_slope": 0.2}),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "figures")
    args = ap.parse_args()
    x = np.linspace(-3.0, 3.0, 1201)
    xt = torch.from_numpy(x)
    fig = Figure(figsize=(11, 4.2))  # no pyplot: no backend to choose
    ax, ax_err = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    colors = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for (label, name, params), color in zip(CURVES, colors):
        num, den = init.coefficients(name, 5, 4, "A", **params)
        approx = pau_reference(xt, num, den, "A").numpy()
        exact = init.target(name, **params)(x)
        ax.plot(x, exact, color=color, lw=1.6, label=label)
        ax.plot(x, approx, color=color, lw=2.2, ls=(0, (2, 2)), alpha=0.9, label=f"{label}*")
        ax_err.semilogy(x, np.maximum(np.abs(approx - exact), 1e-12), color=color, lw=1.2, label=label)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title("Activations and their PAU approximations (*), orders 5/4, form A")
    ax.set_ylim(-1.2, 3.1)
    ax.grid(alpha=0.3)
    ax.legend(ncol=2, fontsize=8, loc="upper left")
    ax_err.set_xlabel("x")
    ax_err.set_ylabel("|PAU(x) - f(x)|")
    ax_err.set_title("Absolute error on [-3, 3]")
    ax_err.set_ylim(1e-9, 1.0)
    ax_err.grid(alpha=0.3, which="both")
    ax_err.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "fig1_approximations.png"
    fig.savefig(path, dpi=150)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
