"""A table over one swept configuration key (``pau-tables --by KEY``), e.g. the PAU
learning rate of ``pau-train -m ... optim.act_lr=0.001,0.01,0.1``.

Per (data set, network, activation) and value of KEY: how many finished runs, their
seeds, mean ± std and best of the test accuracy in percent (final epoch, or best epoch
with ``metric="best_epoch"``) and the median seconds per epoch. A run's value of KEY is
read from its own ``config.yaml`` (``null`` where the key is null or absent). Runs that
share a seed but differ in KEY are different cells here, unlike Tables 2-5, which keep
one run per seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from ..errors import UserError
from ..runs import CONFIG
from .collect import counted
from .markup import format_accuracy
from .names import ACTIVATIONS, DATASETS, MODELS, display
from .stats import METRICS, accuracy_stats, with_metric


def key_value(run_dir, key: str) -> str:
    """``key`` of the run's saved configuration as the command line spells it."""
    path = Path(run_dir) / CONFIG
    try:
        cfg = OmegaConf.load(path)
    except Exception as exc:  # noqa: BLE001 - a missing or half-written file
        raise UserError(f"cannot read {path}: {exc}", hint="run pau-collect again on the run folders") from None
    value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
    if OmegaConf.is_config(value):
        raise UserError(f"{key} is a group of keys in {path}, not one value; name a key below it, e.g. {key}.name")
    return "null" if value is None else str(value)


def sweep_summary(runs: pd.DataFrame, key: str, ddof: int = 0, metric: str = "final") -> pd.DataFrame:
    runs = with_metric(counted(runs), metric)
    if runs.empty:
        raise UserError("no finished runs to tabulate", hint="pau-collect counts a run once final_metrics.json is written")
    runs = runs.assign(value=[key_value(d, key) for d in runs["run_dir"]])
    rows = []
    for (dataset, model, activation, value), g in runs.groupby(["dataset", "model", "activation", "value"], sort=False):
        rows.append({
            "dataset": display(DATASETS, dataset), "architecture": display(MODELS, model),
            "activation": display(ACTIVATIONS, activation), key: value,
            "n": len(g), "seeds": " ".join(str(s) for s in sorted(g["seed"].astype(int))),
            **accuracy_stats(g["test_acc"], ddof),
            "seconds_per_epoch": g["seconds_per_epoch"].astype(float).median(),
        })
    table = pd.DataFrame(rows)
    numeric = pd.to_numeric(table[key], errors="coerce")
    # null (the default) first, then the values in numeric order
    table = table.assign(_num=numeric.fillna(-np.inf)).sort_values(
        ["dataset", "architecture", "activation", "_num", key], kind="stable").drop(columns="_num")
    return table.reset_index(drop=True)


def write_sweep_table(runs: pd.DataFrame, key: str, out_dir, ddof: int = 0, metric: str = "final") -> list[Path]:
    """``sweep_<key>[_best_epoch].csv`` and ``.md`` in ``out_dir``."""
    summary = sweep_summary(runs, key, ddof, metric)
    suffix, what = METRICS[metric]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv, md = out / f"sweep_{key}{suffix}.csv", out / f"sweep_{key}{suffix}.md"
    summary.to_csv(csv, index=False, float_format="%.4f")
    shown = summary.assign(accuracy=[format_accuracy(m, s) or "—" for m, s in zip(summary["mean"], summary["std"])],
                           best=[format_accuracy(b) or "—" for b in summary["best"]],
                           seconds_per_epoch=[f"{s:.1f}" for s in summary["seconds_per_epoch"]])
    columns = ["dataset", "architecture", "activation", key, "n", "accuracy", "best", "seconds_per_epoch"]
    text = (f"## Test accuracy by {key}\n\n"
            + shown[columns].rename(columns={"accuracy": "mean ± std", "seconds_per_epoch": "s/epoch"})
            .to_markdown(index=False, disable_numparse=True)
            + f"\n\n- {what} in percent, mean ± std (ddof={ddof}) and best over the seeds of each row.\n"
            + f"- {key} as each run's config.yaml holds it (null: not set).\n")
    md.write_text(text)
    return [csv, md]
