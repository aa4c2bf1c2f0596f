"""The pruning experiment's results: collected, tabulated and drawn as Fig. 4.

A pruning run folder is one holding ``prune_config.yaml`` (what ``pau-prune``
writes); its ``pruning.csv`` has a row per finished level. ``collect_pruning``
makes one tidy table of (run, level) rows; ``summarize_pruning`` averages over
seeds; ``write_table`` and ``write_figure`` make the table and Fig. 4 (test
accuracy against the percentage of filters pruned, mean over seeds with a band of
± one std, one panel per network, a line per activation).

    python -m pau.repro.analysis.pruning runs --out results/pruning.csv \\
        --tables results/tables --figures results/figures

On disk a run's folder is stored relative to ``pruning.csv``'s folder, as in the runs table.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from .. import runs as run_folder
from ..pruning.run import CONFIG, ERROR, FINAL, TABLE
from .collect import config_hash, read_csv_table, relative_paths, resolved_paths
from .markup import BEST, Cell, render_latex, render_markdown
from .names import ACTIVATIONS, DATASETS, MODELS, activation_order, display, network_order
from .plots import pruning_figure, save_figure

# The collected table, beside the runs table (``runs.csv``) of pau-collect.
COLLECTED = "pruning.csv"
LEVEL_COLUMNS = [
    "level", "percent", "parameters", "test_acc", "inference_ms_per_batch", "masked_layers",
    "stored_parameters", "filters", "best_test_acc", "train_loss", "epochs", "seconds",
]
COLUMNS = ["dataset", "model", "activation", "seed", "status", *LEVEL_COLUMNS,
           "max_epochs", "levels", "criterion", "relative_to", "reset", "config_hash", "duplicate_of", "run_dir"]


# --------------------------------------------------------------------------- collect
def find_pruning_dirs(roots) -> list[Path]:
    """Folders below ``roots`` (or the roots themselves) that hold a ``prune_config.yaml``."""
    found = set()
    for root in map(Path, roots):
        for config in root.rglob(CONFIG):
            if run_folder.HYDRA_DIR not in config.parts and run_folder.CHECKPOINTS not in config.parts:
                found.add(config.parent)
    return sorted(found)


def read_pruning_run(run_dir) -> pd.DataFrame:
    """A row per finished level of one run (one row without a level if none finished)."""
    run_dir = Path(run_dir)
    base = {c: None for c in COLUMNS}
    base["run_dir"] = run_dir.as_posix()
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(run_dir / CONFIG), resolve=False)
        conf = OmegaConf.create(cfg)
        base.update(
            dataset=conf.data.name, model=conf.model.name, activation=conf.activation.name, seed=int(conf.seed),
            max_epochs=OmegaConf.select(conf, "trainer.max_epochs", default=None),
            levels=" ".join(f"{float(p):g}" for p in conf.pruning.levels), criterion=conf.pruning.criterion,
            relative_to=conf.pruning.relative_to, reset=conf.pruning.reset, config_hash=config_hash(cfg),
        )
    except Exception as exc:  # a half-written or foreign file: reported, not fatal
        base["status"] = f"invalid: {exc}"
        return pd.DataFrame([base], columns=COLUMNS)
    try:
        final = json.loads((run_dir / FINAL).read_text())
    except (OSError, ValueError):
        final = None
    if isinstance(final, dict) and final.get("status") == "finished":
        base["status"] = "finished"
    else:
        base["status"] = "failed" if (run_dir / ERROR).is_file() else "incomplete"
    try:
        levels = pd.read_csv(run_dir / TABLE, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
        levels = pd.DataFrame(columns=LEVEL_COLUMNS)
    if levels.empty:
        return pd.DataFrame([base], columns=COLUMNS)
    rows = [{**base, **{c: r.get(c) for c in LEVEL_COLUMNS}} for r in levels.to_dict("records")]
    return pd.DataFrame(rows, columns=COLUMNS)


def collect_pruning(roots) -> pd.DataFrame:
    """Every (run, level) below ``roots``. One configuration found in two folders counts
    once: the copy with more levels (then the most recently written) is kept, the
    others name it in ``duplicate_of``."""
    frames = [read_pruning_run(d) for d in find_pruning_dirs(roots)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    df["duplicate_of"] = ""
    sizes = df.groupby("run_dir")["level"].count()
    runs = df.drop_duplicates("run_dir").dropna(subset=["config_hash"]).copy()
    runs["_levels"] = runs["run_dir"].map(sizes)
    runs["_time"] = runs["run_dir"].map(lambda d: (Path(d) / CONFIG).stat().st_mtime)
    runs = runs.sort_values(["_levels", "_time"], ascending=False)
    for _, g in runs.groupby("config_hash", sort=False):
        for dup in g["run_dir"].iloc[1:]:
            df.loc[df["run_dir"] == dup, "duplicate_of"] = g["run_dir"].iloc[0]
    order = ["dataset", "model", "activation", "seed", "level"]
    return df.sort_values(order, na_position="last").reset_index(drop=True)


def write_collected(roots, out) -> Path | None:
    """``collect_pruning(roots)`` as CSV at ``out``; None (nothing written) if there is no run."""
    df = collect_pruning(roots)
    if df.empty:
        return None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    relative_paths(df, out.parent).to_csv(out, index=False)
    runs = df.drop_duplicates("run_dir")
    status = runs[runs["duplicate_of"] == ""]["status"].value_counts()
    print(f"{len(runs)} pruning runs: " + ", ".join(f"{n} {s}" for s, n in status.items())
          + f"; wrote {out} ({int(df['level'].notna().sum())} levels)", file=sys.stderr)
    return out


# --------------------------------------------------------------------------- summarize
def _counted(df: pd.DataFrame) -> pd.DataFrame:
    """Levels that count: duplicates dropped and, where runs of different configurations
    share (dataset, model, activation, seed), only the longest-trained one (as the tables)."""
    dup = df["duplicate_of"].astype("string").fillna("")
    df = df[(dup == "") & df["level"].notna()]
    key = ["dataset", "model", "activation", "seed"]
    runs = df.assign(_n=df.groupby("run_dir")["level"].transform("count")).drop_duplicates("run_dir")
    keep = runs.sort_values(["max_epochs", "_n"], ascending=False).drop_duplicates(key)["run_dir"]
    for _, g in runs[~runs["run_dir"].isin(keep)].groupby(key):
        print(f"warning: pruning runs of other configurations for one seed left out: {', '.join(g['run_dir'])}",
              file=sys.stderr)
    return df[df["run_dir"].isin(keep)]


def summarize_pruning(df: pd.DataFrame, ddof: int = 0) -> pd.DataFrame:
    """Per (dataset, model, activation, percent): seeds, mean/std/best test accuracy in
    percent (population std by default, as the tables), mean parameters and ms per batch.
    Levels of unfinished runs count too: a level is final once it is in ``pruning.csv``."""
    df = _counted(df)
    rows = []
    for (dataset, model, activation, percent), g in df.groupby(["dataset", "model", "activation", "percent"]):
        acc = 100.0 * g["test_acc"].astype(float)
        rows.append({
            "dataset": dataset, "model": model, "activation": activation, "percent": float(percent),
            "n": len(g), "seeds": " ".join(str(int(s)) for s in sorted(g["seed"])),
            "mean": acc.mean(), "std": acc.std(ddof=ddof) if len(acc) > ddof else np.nan, "best": acc.max(),
            "parameters": g["parameters"].astype(float).mean(),
            "stored_parameters": g["stored_parameters"].astype(float).mean(),
            "inference_ms_per_batch": g["inference_ms_per_batch"].astype(float).mean(),
            "max_epochs": " ".join(sorted({f"{e:g}" for e in g["max_epochs"].dropna().astype(float)})),
        })
    return pd.DataFrame(rows)


def read_pruning_table(pruning_csv) -> pd.DataFrame | None:
    """The (run, level) table ``write_collected`` wrote, its folders resolved; None if there is
    none or it holds no row. A corrupt or foreign file is a UserError."""
    path = Path(pruning_csv)
    if not path.is_file():
        return None
    df = read_csv_table(path, "pruning table", COLUMNS, keep_default_na=False, na_values=[""],
                        dtype={"duplicate_of": str, "masked_layers": str})
    return resolved_paths(df, path.parent) if not df.empty else None


# --------------------------------------------------------------------------- table
def table_rows(summary: pd.DataFrame, dataset: str, model: str):
    """Header and rows for one network: a row per pruning level, per activation the
    accuracy (mean ± std), the parameters left and the inference time per batch."""
    g = summary[(summary["dataset"] == dataset) & (summary["model"] == model)]
    acts = activation_order(g["activation"])
    header = ["Pruned (%)"]
    for a in acts:
        name = display(ACTIVATIONS, a)
        header += [f"{name} accuracy (%)", f"{name} parameters", f"{name} ms/batch"]
    rows = []
    for percent in sorted(g["percent"].unique()):
        at = g[g["percent"] == percent].set_index("activation")
        best = at["mean"].max()
        row = [f"{percent:g}"]
        for a in acts:
            if a not in at.index:
                row += [Cell(None), "—", "—"]
                continue
            r = at.loc[a]
            text = f"{r['mean']:.2f} ± {r['std']:.2f}" if not pd.isna(r["std"]) else f"{r['mean']:.2f}"
            mark = BEST if len(acts) > 1 and r["mean"] == best else ""
            row += [Cell(f"{text} (n={int(r['n'])})", mark), f"{r['parameters']:,.0f}",
                    f"{r['inference_ms_per_batch']:.2f}"]
        rows.append(row)
    return header, rows


def write_table(pruning_csv, out_dir, ddof: int = 0) -> list[Path]:
    """``pruning.md`` and ``pruning.tex`` (a table per network) and ``pruning_summary.csv``
    under ``out_dir``; nothing (an empty list) if ``pruning_csv`` holds no levels."""
    df = read_pruning_table(pruning_csv)
    summary = summarize_pruning(df, ddof) if df is not None else pd.DataFrame()
    if summary.empty:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out_dir / "pruning_summary.csv", index=False, float_format="%.4f")
    std = "population std (ddof=0)" if ddof == 0 else f"std with ddof={ddof}"
    md, tex = [], []
    for dataset, model in network_order(zip(summary["dataset"], summary["model"])):
        g = summary[(summary["dataset"] == dataset) & (summary["model"] == model)]
        header, rows = table_rows(summary, dataset, model)
        title = f"Fig. 4 as a table: {display(MODELS, model)} on {display(DATASETS, dataset)}, pruned"
        epochs = ", ".join(sorted(set(" ".join(g["max_epochs"]).split()), key=float))
        notes = [
            f"Final-epoch test accuracy after retraining each level, mean ± {std} over n seeds; "
            f"{BEST} the better activation per level. Budget: max_epochs {epochs} per level.",
            "Parameters: those the network computes with (masked filters of layers tied by a residual sum do "
            "not count); ms/batch: fastest of 20 forward passes of one training-size batch, on the run's machine.",
        ]
        md.append(render_markdown(header, rows, notes, title))
        tex.append(render_latex(header, rows, notes, title))
    (out_dir / "pruning.md").write_text("\n".join(md))
    (out_dir / "pruning.tex").write_text("\n".join(tex))
    return [out_dir / "pruning_summary.csv", out_dir / "pruning.md", out_dir / "pruning.tex"]


# --------------------------------------------------------------------------- figure
def write_figure(pruning_csv, out_dir, ddof: int = 0) -> list[Path]:
    """``fig4_pruning.png`` and ``.pdf`` under ``out_dir``; nothing if ``pruning_csv`` holds no levels."""
    df = read_pruning_table(pruning_csv)
    summary = summarize_pruning(df, ddof) if df is not None else pd.DataFrame()
    if summary.empty:
        return []
    return save_figure(pruning_figure(summary), Path(out_dir) / "fig4_pruning")


if __name__ == "__main__":  # python -m pau.repro.analysis.pruning: the command lives with the others
    from .cli import pruning_main

    sys.exit(pruning_main())
