"""The figures as matplotlib ``Figure`` objects: training curves (Figs. 2, 5-8) and accuracy
under pruning (Fig. 4). Learned activations (Fig. 3) are the library's ``pau.plot``.

Figures are built as ``matplotlib.figure.Figure`` rather than through pyplot, so
nothing here needs (or sets) a display backend and no figure outlives its use.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .names import ACTIVATIONS, DATASETS, MODELS, PAU_FAMILY, activation_order, display, network_order

CURVE_METRICS = (("test_acc", "Test accuracy (%)", 100.0), ("train_loss", "Train loss", 1.0))


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """The figure as PNG and PDF at ``stem``."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    return paths


def seeds_label(counts) -> str:
    """How many seeds a line averages: "3 seeds", "1 seed", or "2-3 seeds" where epochs differ."""
    lo, hi = int(min(counts)), int(max(counts))
    n = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{n} seed" if hi == 1 else f"{n} seeds"


# --------------------------------------------------------------------------- curves
def curves_figure(curves: pd.DataFrame, dataset: str, model: str) -> Figure:
    """Test accuracy and train loss against epoch for one (dataset, model): a line per
    activation (mean over seeds, the number of seeds in the legend), a band of ± one std."""
    g = curves[(curves["dataset"] == dataset) & (curves["model"] == model)]
    fig = Figure(figsize=(10, 3.8), layout="tight")
    axes = fig.subplots(1, 2)
    for activation in activation_order(g["activation"]):
        name = display(ACTIVATIONS, activation)
        c = g[g["activation"] == activation].sort_values("epoch")
        label = f"{name} ({seeds_label(c['n'])})"
        for ax, (metric, ylabel, scale) in zip(axes, CURVE_METRICS):
            mean, std = scale * c[f"{metric}_mean"], scale * c[f"{metric}_std"].fillna(0.0)
            (line,) = ax.plot(c["epoch"], mean, label=label, lw=1.5 if name in PAU_FAMILY else 1.0)
            ax.fill_between(c["epoch"], mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
            ax.set_xlabel("Epoch")
            ax.set_ylabel(ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{display(MODELS, model)} on {display(DATASETS, dataset)} (mean ± std over seeds)")
    return fig


# --------------------------------------------------------------------------- pruning
def pruning_figure(summary: pd.DataFrame) -> Figure:
    """Fig. 4: per network, test accuracy against the percentage pruned, a line per
    activation (mean over seeds, their number in the legend) with a band of ± one std."""
    networks = network_order(zip(summary["dataset"], summary["model"]))
    fig = Figure(figsize=(4.2 * len(networks), 3.6), layout="tight")
    axes = fig.subplots(1, len(networks), squeeze=False)
    for ax, (dataset, model) in zip(axes[0], networks):
        g = summary[(summary["dataset"] == dataset) & (summary["model"] == model)]
        for a in activation_order(g["activation"]):
            c = g[g["activation"] == a].sort_values("percent")
            name = display(ACTIVATIONS, a)
            mean, std = c["mean"], c["std"].fillna(0.0)
            (line,) = ax.plot(c["percent"], mean, marker="o", ms=3, label=f"{name} ({seeds_label(c['n'])})",
                              lw=1.8 if name in PAU_FAMILY else 1.0)
            ax.fill_between(c["percent"], mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
        ax.set_title(f"{display(MODELS, model)} ({display(DATASETS, dataset)})")
        ax.set_xlabel("Filters pruned (%)")
        ax.set_ylabel("Test accuracy (%)")
        ax.legend(fontsize=8)
    fig.suptitle("Accuracy under pruning (mean ± std over seeds)")
    return fig
