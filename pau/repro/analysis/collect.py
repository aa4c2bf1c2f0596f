"""``pau-collect``: one tidy table of runs from run folders.

A run folder is any folder holding a ``config.yaml`` with ``data.name``,
``model.name``, ``activation.name`` and ``seed`` (what ``pau-train`` writes);
what a run is comes from that saved config, never from the folder's name. Its
state comes from the files beside it:

- ``final_metrics.json`` with status "finished": finished, or diverged when its
  training loss ended non-finite (NaN or infinite: the run is kept but its
  accuracy is not averaged, as the paper reports such runs);
- ``error.txt`` (and no final metrics): failed;
- otherwise: incomplete, with the epochs ``metrics.csv`` holds so far.

The same config found twice (a copied folder, two roots holding one run) is
counted once: the finished, most recently written copy is kept and the others
are marked ``duplicate_of`` it. Problems are reported, never fatal.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from ..training.config import NON_RESULT_KEYS

REQUIRED = {"dataset": "data.name", "model": "model.name", "activation": "activation.name", "seed": "seed"}
# Config keys that say where a run lives or how it executes, not what it computes
# (the training command's own list, so "same config" means the same thing to both).
NOT_IDENTITY = ("hydra", "launcher") + tuple(NON_RESULT_KEYS)
# Keys that shrink a run below the paper's: recorded as its budget.
SUBSET_KEYS = ("limit", "subset", "fraction", "max_samples", "num_samples", "train_size", "test_size")
STATUS_RANK = {"finished": 0, "diverged": 1, "incomplete": 2, "failed": 3, "invalid": 4}

COLUMNS = [
    "dataset", "model", "activation", "seed", "status", "max_epochs", "epochs_done",
    "test_acc", "best_test_acc", "test_acc5", "train_loss", "seconds", "seconds_per_epoch",
    "num_parameters", "data_subset", "budget_note", "config_hash", "duplicate_of", "written_at", "error", "run_dir",
]


def find_run_dirs(roots) -> list[Path]:
    """Folders below ``roots`` (or the roots themselves) that hold a ``config.yaml``."""
    found = set()
    for root in map(Path, roots):
        for config in root.rglob("config.yaml"):
            # Hydra's own copy of the config sits in .hydra/ inside a run's output folder.
            if ".hydra" in config.parts or "checkpoints" in config.parts:
                continue
            found.add(config.parent)
    return sorted(found)


def config_hash(cfg: dict) -> str:
    """Short hash of the config's result keys: equal for two copies of one run."""
    identity = json.loads(json.dumps(cfg, default=str))
    for key in NOT_IDENTITY:
        *parents, last = key.split(".")
        node = identity
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    text = json.dumps(identity, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def data_subset(cfg: dict) -> str:
    """The data-reducing settings of a run, e.g. ``trainer.limit_train_batches=4``; "full" if none."""
    parts = []
    for group in ("data", "trainer"):
        for key, value in sorted((cfg.get(group) or {}).items()):
            if value is None or isinstance(value, (dict, list)):
                continue
            if any(s in key for s in SUBSET_KEYS):
                # Lightning's limit_*_batches=1.0 means "all of it".
                if key.startswith("limit_") and float(value) == 1.0:
                    continue
                parts.append(f"{group}.{key}={value}")
    return "; ".join(parts) if parts else "full"


def _read_metrics(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path, on_bad_lines="skip")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    if "epoch" not in df.columns:
        return None
    df = df[pd.to_numeric(df["epoch"], errors="coerce").notna()]
    # A resumed run may log an epoch again: its last record is the one that counts.
    return df.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)


def read_metrics(run_dir) -> pd.DataFrame | None:
    """The per-epoch table of a run (one row per epoch), or None if it has none."""
    return _read_metrics(Path(run_dir) / "metrics.csv")


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "(empty error.txt)"


def read_run(run_dir) -> dict:
    """One row of the runs table for ``run_dir``."""
    run_dir = Path(run_dir)
    row = {c: None for c in COLUMNS}
    row["run_dir"] = run_dir.as_posix()
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=False)
    except Exception as exc:  # a half-written or foreign yaml file
        row.update(status="invalid", error=f"config.yaml unreadable: {exc}")
        return row
    if not isinstance(cfg, dict):
        row.update(status="invalid", error="config.yaml is not a mapping")
        return row
    conf = OmegaConf.create(cfg)
    missing = [key for key in REQUIRED.values() if OmegaConf.select(conf, key, default=None) is None]
    if missing:
        row.update(status="invalid", error=f"config.yaml lacks {', '.join(missing)}")
        return row
    for col, key in REQUIRED.items():
        row[col] = OmegaConf.select(conf, key)
    row["seed"] = int(row["seed"])
    row["max_epochs"] = OmegaConf.select(conf, "trainer.max_epochs", default=None)
    row["data_subset"] = data_subset(cfg)
    row["budget_note"] = cfg.get("budget")
    row["config_hash"] = config_hash(cfg)

    metrics = read_metrics(run_dir)
    row["epochs_done"] = 0 if metrics is None else len(metrics)
    final_path, error_path = run_dir / "final_metrics.json", run_dir / "error.txt"
    final = None
    if final_path.is_file():
        try:
            final = json.loads(final_path.read_text())
        except json.JSONDecodeError as exc:
            row["error"] = f"final_metrics.json unreadable: {exc}"
    if isinstance(final, dict) and final.get("status") == "finished":
        row["status"] = "finished"
        for key in ("test_acc", "best_test_acc", "test_acc5", "train_loss", "seconds", "seconds_per_epoch", "num_parameters"):
            row[key] = final.get(key)
        row["epochs_done"] = final.get("epochs", row["epochs_done"])
        if _diverged(final, metrics):
            row["status"] = "diverged"
    elif error_path.is_file():
        row.update(status="failed", error=_last_line(error_path))
    else:
        row["status"] = "incomplete"
    return row


def _diverged(final: dict, metrics: pd.DataFrame | None) -> bool:
    """A finished run whose training loss ended NaN or infinite."""
    losses = [final.get("train_loss")]
    if metrics is not None and len(metrics) and "train_loss" in metrics:
        losses.append(metrics["train_loss"].iloc[-1])
    values = []
    for v in losses:
        try:
            values.append(float(v))
        except (TypeError, ValueError):  # missing or unreadable: says nothing
            pass
    return any(not math.isfinite(v) for v in values)


def _written_at(run_dir: str) -> float:
    for name in ("final_metrics.json", "metrics.csv", "config.yaml"):
        path = Path(run_dir) / name
        if path.is_file():
            return path.stat().st_mtime
    return 0.0


def mark_duplicates(runs: pd.DataFrame) -> pd.DataFrame:
    """Fill ``duplicate_of``: within one config, every copy but the kept one names the kept one."""
    runs = runs.copy()
    runs["duplicate_of"] = ""
    valid = runs["config_hash"].notna()
    order = runs[valid].assign(
        _rank=runs.loc[valid, "status"].map(STATUS_RANK),
        _time=runs.loc[valid, "run_dir"].map(_written_at),
    ).sort_values(["_rank", "_time", "run_dir"], ascending=[True, False, True])
    for _, group in order.groupby("config_hash", sort=False):
        kept = group["run_dir"].iloc[0]
        runs.loc[group.index[1:], "duplicate_of"] = kept
    return runs


def collect(roots) -> pd.DataFrame:
    """The runs table of every run folder below ``roots``."""
    rows = [read_run(d) for d in find_run_dirs(roots)]
    runs = pd.DataFrame(rows, columns=COLUMNS)
    if runs.empty:
        return runs
    runs = mark_duplicates(runs)
    runs["written_at"] = pd.to_datetime(runs["run_dir"].map(_written_at), unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    runs["seed"] = runs["seed"].astype("Int64")
    for col in ("max_epochs", "epochs_done", "num_parameters"):
        runs[col] = pd.to_numeric(runs[col], errors="coerce").astype("Int64")
    for col in ("test_acc", "best_test_acc", "test_acc5", "train_loss", "seconds", "seconds_per_epoch"):
        runs[col] = pd.to_numeric(runs[col], errors="coerce")
    return runs.sort_values(["dataset", "model", "activation", "seed", "run_dir"], na_position="last").reset_index(drop=True)


def counted(runs: pd.DataFrame, statuses=("finished",)) -> pd.DataFrame:
    """The finished runs that count (or those of ``statuses``): duplicates dropped."""
    dup = runs["duplicate_of"].fillna("").astype(str)
    return runs[runs["status"].isin(statuses) & (dup == "")]


def report(runs: pd.DataFrame, out=None) -> None:
    """Print what is finished, and every incomplete, failed, invalid or duplicate run."""
    out = out or sys.stderr
    dup = runs["duplicate_of"].fillna("").astype(str) != ""
    status = runs.loc[~dup, "status"].value_counts()
    print(
        f"{len(runs)} run folders: {status.get('finished', 0)} finished, {status.get('diverged', 0)} diverged, "
        f"{status.get('incomplete', 0)} incomplete, "
        f"{status.get('failed', 0)} failed, {status.get('invalid', 0)} invalid, {int(dup.sum())} duplicates",
        file=out,
    )
    for _, r in runs[~dup & (runs["status"] == "diverged")].iterrows():
        print(f"  diverged (training loss {r.train_loss}): {r.run_dir}", file=out)
    for _, r in runs[~dup & (runs["status"] == "incomplete")].iterrows():
        print(f"  incomplete ({r.epochs_done}/{r.max_epochs} epochs): {r.run_dir}", file=out)
    for _, r in runs[~dup & runs["status"].isin(["failed", "invalid"])].iterrows():
        print(f"  {r.status}: {r.run_dir}: {r.error}", file=out)
    for _, r in runs[dup].iterrows():
        print(f"  duplicate: {r.run_dir} (same config as {r.duplicate_of})", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pau-collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", default=["runs"], help="folders to search for runs (default: runs)")
    parser.add_argument("--out", default="results/runs.csv", help="where to write the runs table")
    args = parser.parse_args(argv)
    runs = collect(args.roots)
    # Pruning runs (pau-prune) are collected beside the runs table, as pruning.csv.
    from .pruning import write_collected

    pruned = write_collected(args.roots, Path(args.out).with_name("pruning.csv"))
    if runs.empty:
        print(f"no run folders (config.yaml) below {', '.join(args.roots)}", file=sys.stderr)
        return 0 if pruned else 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out, index=False)
    report(runs)
    print(f"wrote {out} ({len(counted(runs))} finished runs counted)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
