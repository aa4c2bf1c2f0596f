"""The statistics of the tables, each chosen to match how the paper's numbers were made.

- A run's accuracy is its final-epoch test accuracy (``test_acc``), in percent; with
  ``metric="best_epoch"`` (``with_metric``) it is the highest test accuracy over its
  epochs (``best_test_acc``; top-5 likewise the highest over the epochs of its
  ``metrics.csv``), as several follow-up papers report. Everything below is computed
  the same way on either.
- mean ± std over seeds use the population std (ddof=0, numpy's default): the
  paper prints "90.60 ± 0.00" for SLAF/VGG-8/Fashion-MNIST, of which one run
  finished, where the sample std (ddof=1) is undefined. ``ddof=1`` switches.
- best = max over seeds.
- best ("•") and runner-up ("◦") are marked per column, separately for mean and
  best, on full-precision values; exact ties share a mark.
- Table 5 counts, per baseline, the comparisons where the better of PAU and
  RPAU is >= the baseline, at the printed precision (two decimals). It counts
  two ways: per run, pairing runs of equal seed (the paper's unit: its 42
  "models" are 8 columns of Tables 2-3 x 5 runs, plus ImageNet top-1 and
  top-5), and per column, on the means. The paper's per-run accuracies are
  not published, so only the per-column count can be rederived from its
  Tables 2-4.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UserError
from .collect import counted, one_run_per_seed, read_metrics
from .markup import BEST, RUNNER_UP
from .names import ACTIVATIONS, DATASETS, MODELS, PAU_FAMILY, TABLE5_BASELINES, display


# What a table shows of each run: the name of --metric -> (suffix of the files, what the notes say).
METRICS = {
    "final": ("", "Final-epoch test accuracy"),
    "best_epoch": ("_best_epoch", "Best-epoch test accuracy (per run the highest test accuracy over its epochs, "
                                  "as several follow-up papers report; the paper does not say which epoch it reports)"),
}


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return metric


def best_over_epochs(run_dir, column: str) -> float:
    """The highest value of ``column`` over the epochs of a run's metrics.csv (NaN without one)."""
    metrics = read_metrics(run_dir) if pd.notna(run_dir) and str(run_dir) else None
    if metrics is None or column not in metrics:
        return np.nan
    values = pd.to_numeric(metrics[column], errors="coerce").dropna()
    return values.max() if len(values) else np.nan


def with_metric(runs: pd.DataFrame, metric: str = "final") -> pd.DataFrame:
    """``runs`` with ``test_acc`` (and ``test_acc5``) holding what ``metric`` reports of each run:
    unchanged for "final"; for "best_epoch" the highest over the run's epochs."""
    if check_metric(metric) == "final":
        return runs
    runs = runs.copy()
    # A run's final_metrics.json records its best epoch; its metrics.csv where that lacks it.
    runs["test_acc"] = [best if pd.notna(best) or pd.isna(final) else best_over_epochs(d, "test_acc")
                        for d, best, final in zip(runs["run_dir"], runs["best_test_acc"], runs["test_acc"])]
    runs["test_acc5"] = [best_over_epochs(d, "test_acc5") if pd.notna(a5) else np.nan
                         for d, a5 in zip(runs["run_dir"], runs["test_acc5"])]
    return runs


def accuracy_stats(accuracies: pd.Series, ddof: int = 0) -> dict:
    """mean, std (NaN for no more values than ``ddof``) and best of a cell's accuracies, in percent."""
    acc = 100.0 * accuracies.astype(float).dropna()
    return {"mean": acc.mean() if len(acc) else np.nan,
            "std": acc.std(ddof=ddof) if len(acc) > ddof else np.nan,
            "best": acc.max() if len(acc) else np.nan}


def summarize(runs: pd.DataFrame, ddof: int = 0) -> pd.DataFrame:
    """Per (dataset, model, activation): n, seeds, mean/std/best of test_acc (and test_acc5), in percent,
    over the finished runs; how many diverged (not averaged, as the paper); the median seconds per epoch."""
    runs = one_run_per_seed(counted(runs, ("finished", "diverged")))
    rows = []
    for (dataset, model, activation), cell in runs.groupby(["dataset", "model", "activation"], sort=False):
        g = cell[cell["status"] == "finished"]
        row = {
            "dataset": display(DATASETS, dataset), "architecture": display(MODELS, model),
            "activation": display(ACTIVATIONS, activation),
            "dataset_key": dataset, "model_key": model, "activation_key": activation,
            "n": len(g), "seeds": " ".join(str(s) for s in sorted(g["seed"].astype(int))),
            "diverged": len(cell) - len(g),
        }
        for prefix, col in (("", "test_acc"), ("acc5_", "test_acc5")):
            row.update({prefix + k: v for k, v in accuracy_stats(g[col], ddof).items()})
        # The cost of a cell: wall seconds per epoch (training plus test pass), median over its seeds.
        row["seconds_per_epoch"] = g["seconds_per_epoch"].astype(float).median()
        rows.append(row)
    return pd.DataFrame(rows)


def mark_column(values: pd.Series) -> pd.Series:
    """'•' for the highest value, '◦' for the second highest (dense rank; exact ties share); '' else."""
    ranks = values.rank(method="dense", ascending=False)
    return ranks.map({1.0: BEST, 2.0: RUNNER_UP}).fillna("").astype(str)


# --------------------------------------------------------------------------- Table 5
def _family_vs(values: dict, baseline: str):
    """(>=, <) for one comparison: the better of PAU/RPAU against ``baseline`` in ``values``."""
    fam = [values[f] for f in PAU_FAMILY if f in values and not pd.isna(values[f])]
    if not fam or baseline not in values or pd.isna(values[baseline]):
        return None
    return np.round(max(fam), 2) >= np.round(values[baseline], 2)


def _count_family_vs(comparisons, baselines) -> pd.DataFrame:
    """Per baseline, how many of the {activation: accuracy} comparisons PAU/RPAU win (>=) or lose."""
    counts = {b: [0, 0] for b in baselines}
    for values in comparisons:
        for b in baselines:
            res = _family_vs(values, b)
            if res is not None:
                counts[b][0 if res else 1] += 1
    return pd.DataFrame({"baseline": list(counts), "at_least": [c[0] for c in counts.values()],
                         "below": [c[1] for c in counts.values()]})


def table5_by_column(summary: pd.DataFrame, baselines=TABLE5_BASELINES) -> pd.DataFrame:
    """Per baseline: columns (dataset, architecture) where max(PAU, RPAU) mean >= / < the baseline mean.

    A column with top-5 accuracy (ImageNet) counts top-1 and top-5 separately, as the paper does.
    """
    def comparisons():
        for _, col in summary.groupby(["dataset", "architecture"], sort=False):
            metrics = ["mean"] + (["acc5_mean"] if "acc5_mean" in col and col["acc5_mean"].notna().any() else [])
            for metric in metrics:
                yield dict(zip(col["activation"], col[metric]))

    return _count_family_vs(comparisons(), baselines)


def table5_by_run(runs: pd.DataFrame, baselines=TABLE5_BASELINES) -> pd.DataFrame:
    """Per baseline: runs where the better of the PAU and RPAU runs of the same seed is >= / < it."""
    used = one_run_per_seed(counted(runs)).copy()
    used["act"] = used["activation"].map(lambda a: display(ACTIVATIONS, a))

    def comparisons():
        for _, g in used.groupby(["dataset", "model", "seed"], sort=False):
            for metric in ("test_acc", "test_acc5"):
                yield {a: 100.0 * v for a, v in zip(g["act"], g[metric].astype(float)) if not pd.isna(v)}

    return _count_family_vs(comparisons(), baselines)
