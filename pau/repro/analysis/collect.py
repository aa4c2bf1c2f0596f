"""The runs table: one row per run folder, and which runs count.

A run folder is any folder holding a ``config.yaml`` with ``data.name``,
``model.name``, ``activation.name`` and ``seed`` (what ``pau-train`` writes);
what a run is comes from that saved config, never from the folder's name. Its
state comes from the files beside it:

- ``final_metrics.json`` with status "finished": finished; damaged when its
  ``metrics.csv`` holds fewer epochs than it trained (a cut or overwritten file:
  kept out of means and curves, which would otherwise average fewer seeds after
  the cut); diverged when its training loss ended non-finite (NaN or infinite:
  kept but not averaged, as the paper reports such runs);
- a process holding the folder's lock (``pau.repro.runs.status``): running;
- ``error.txt`` (and no final metrics): failed;
- otherwise: incomplete, with the epochs ``metrics.csv`` holds so far.

The same config found twice (a copied folder, two roots holding one run) is
counted once: the finished, most recently written copy is kept and the others
are marked ``duplicate_of`` it. Problems are reported, never fatal.

On disk (``runs.csv``) a run's folder is stored relative to the table's own
folder, so the table can be read from any working directory and moved together
with its runs; :func:`read_runs_table` resolves them again.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from .. import runs as run_folder
from ..errors import UserError

REQUIRED = {"dataset": "data.name", "model": "model.name", "activation": "activation.name", "seed": "seed"}
# Keys that shrink a run below the paper's: recorded as its budget.
SUBSET_KEYS = ("limit", "subset", "fraction", "max_samples", "num_samples", "train_size", "test_size")
STATUS_RANK = {"finished": 0, "diverged": 1, "damaged": 2, "running": 3, "incomplete": 4, "failed": 5, "invalid": 6}
# Columns of the runs table that hold a folder: relative to the table on disk.
PATH_COLUMNS = ("run_dir", "duplicate_of")

COLUMNS = [
    "dataset", "model", "activation", "seed", "status", "max_epochs", "epochs_done",
    "test_acc", "best_test_acc", "test_acc5", "train_loss", "seconds", "seconds_per_epoch",
    "num_parameters", "data_subset", "training", "budget_note", "config_hash", "duplicate_of", "written_at", "error", "run_dir",
]


def config_hash(cfg: dict) -> str:
    """Short hash of a run's identity (``pau.repro.runs.lasting_identity``: its configuration
    less the keys that cannot change what is trained, and less keys added since at the
    value the run trained with): equal for two copies of one run, whichever version saved them."""
    text = json.dumps(run_folder.lasting_identity(cfg), sort_keys=True, default=str)
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


def training_setup(cfg: dict) -> str:
    """How a run trains, as the tables' notes state it: optimiser, learning rates, batch,
    gradient clipping, weight initialisation, e.g. "sgd lr 0.01 momentum 0.5, batch 256"."""
    optim, data, trainer = (cfg.get(k) or {} for k in ("optim", "data", "trainer"))
    if not optim.get("name"):
        return ""
    parts = [f"{optim['name']} lr {optim.get('lr')}"]
    if optim["name"] == "sgd" and optim.get("momentum"):
        parts[0] += f" momentum {optim['momentum']}"
    if optim.get("weight_decay"):
        parts[0] += f" weight decay {optim['weight_decay']}"
    if optim.get("act_lr") is not None:
        parts[0] += f" (PAU lr {optim['act_lr']})"
    if data.get("batch_size"):
        parts.append(f"batch {data['batch_size']}")
    if trainer.get("gradient_clip_val"):
        parts.append(f"clip {trainer['gradient_clip_val']}")
    init = (cfg.get("model") or {}).get("weight_init", "pytorch")
    if init != "pytorch":
        parts.append(f"{init} init")
    return ", ".join(parts)


def read_metrics(run_dir) -> pd.DataFrame | None:
    """The per-epoch table of a run (one row per epoch), or None if it has none."""
    path = run_folder.metrics_path(run_dir)
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


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else f"(empty {path.name})"


def read_run(run_dir) -> dict:
    """One row of the runs table for ``run_dir``."""
    run_dir = Path(run_dir)
    row = {c: None for c in COLUMNS}
    row["run_dir"] = run_dir.as_posix()
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(run_dir / run_folder.CONFIG), resolve=False)
    except Exception as exc:  # a half-written or foreign yaml file
        row.update(status="invalid", error=f"{run_folder.CONFIG} unreadable: {exc}")
        return row
    if not isinstance(cfg, dict):
        row.update(status="invalid", error=f"{run_folder.CONFIG} is not a mapping")
        return row
    conf = OmegaConf.create(cfg)
    missing = [key for key in REQUIRED.values() if OmegaConf.select(conf, key, default=None) is None]
    if missing:
        row.update(status="invalid", error=f"{run_folder.CONFIG} lacks {', '.join(missing)}")
        return row
    for col, key in REQUIRED.items():
        row[col] = OmegaConf.select(conf, key)
    row["seed"] = int(row["seed"])
    row["max_epochs"] = OmegaConf.select(conf, "trainer.max_epochs", default=None)
    row["data_subset"] = data_subset(cfg)
    row["training"] = training_setup(cfg)
    row["budget_note"] = cfg.get("budget")
    row["config_hash"] = config_hash(cfg)

    metrics = read_metrics(run_dir)
    logged = 0 if metrics is None else len(metrics)
    row["epochs_done"] = logged
    final_path, error_path = run_dir / run_folder.FINAL, run_dir / run_folder.ERROR
    final = None
    if final_path.is_file():
        try:
            final = json.loads(final_path.read_text())
        except json.JSONDecodeError as exc:
            row["error"] = f"{run_folder.FINAL} unreadable: {exc}"
    if isinstance(final, dict) and final.get("status") == run_folder.FINISHED:
        row["status"] = "finished"
        for key in ("test_acc", "best_test_acc", "test_acc5", "train_loss", "seconds", "seconds_per_epoch", "num_parameters"):
            row[key] = final.get(key)
        trained = final.get("epochs")
        row["epochs_done"] = logged if trained is None else trained
        if trained is not None and logged < int(trained):
            row.update(status="damaged", error=f"{run_folder.METRICS} holds {logged} of the {int(trained)} epochs trained")
        elif _diverged(final, metrics):
            row["status"] = "diverged"
    elif run_folder.status(run_dir) == run_folder.RUNNING:
        row["status"] = "running"
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
    for name in (run_folder.FINAL, run_folder.METRICS, run_folder.CONFIG):
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


def check_roots(roots) -> list[Path]:
    """``roots`` as paths; a UserError naming the first that is not a folder."""
    roots = [Path(r) for r in roots]
    for root in roots:
        if not root.is_dir():
            raise UserError(f"no folder {root} (give the folders that hold the run folders, e.g. runs/)")
    return roots


def collect(roots) -> pd.DataFrame:
    """The runs table of every run folder below ``roots``."""
    rows = [read_run(d) for d in run_folder.find_run_folders(check_roots(roots))]
    runs = pd.DataFrame(rows, columns=COLUMNS)
    if runs.empty:
        return runs
    runs = mark_duplicates(runs)
    runs["written_at"] = pd.to_datetime(runs["run_dir"].map(_written_at), unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    return _typed(runs).sort_values(["dataset", "model", "activation", "seed", "run_dir"],
                                    na_position="last").reset_index(drop=True)


def _typed(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.copy()
    runs["seed"] = pd.to_numeric(runs["seed"], errors="coerce").astype("Int64")
    for col in ("max_epochs", "epochs_done", "num_parameters"):
        runs[col] = pd.to_numeric(runs[col], errors="coerce").astype("Int64")
    for col in ("test_acc", "best_test_acc", "test_acc5", "train_loss", "seconds", "seconds_per_epoch"):
        runs[col] = pd.to_numeric(runs[col], errors="coerce")
    return runs


# --------------------------------------------------------------------------- runs.csv on disk
def relative_paths(table: pd.DataFrame, folder, columns=PATH_COLUMNS) -> pd.DataFrame:
    """``columns`` of ``table`` rewritten relative to ``folder`` (POSIX separators; empty cells stay empty)."""
    base = os.path.abspath(folder)

    def rel(p):
        return p if pd.isna(p) or p == "" else Path(os.path.relpath(os.path.abspath(str(p)), base)).as_posix()

    return table.assign(**{c: table[c].map(rel) for c in columns if c in table})


def resolved_paths(table: pd.DataFrame, folder, columns=PATH_COLUMNS) -> pd.DataFrame:
    """The inverse of :func:`relative_paths`: ``columns`` resolved against ``folder`` (absolute ones kept)."""
    base = os.path.abspath(folder)

    def resolve(p):
        return p if pd.isna(p) or p == "" else Path(os.path.normpath(os.path.join(base, str(p)))).as_posix()

    return table.assign(**{c: table[c].map(resolve) for c in columns if c in table})


def write_runs_table(runs: pd.DataFrame, out) -> Path:
    """``runs`` as CSV at ``out``, its folders relative to ``out``'s folder."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    relative_paths(runs, out.parent).to_csv(out, index=False)
    return out


def read_csv_table(path, what: str, columns, **read_options) -> pd.DataFrame:
    """A CSV this project wrote, checked: one-line UserErrors for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no {what} at {path}; make it with pau-collect (e.g. pau-collect runs --out {path})")
    try:
        table = pd.read_csv(path, **read_options)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty: not a {what}; run pau-collect again") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is corrupt ({reason}); run pau-collect again") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{path} is not a {what}: it lacks the columns {', '.join(missing)}; run pau-collect again")
    return table


def read_runs_table(path) -> pd.DataFrame:
    """The runs table ``pau-collect`` wrote at ``path``, its folders resolved against the table's folder."""
    runs = read_csv_table(path, "runs table", COLUMNS, keep_default_na=True)
    return _typed(resolved_paths(runs, Path(path).parent))


# --------------------------------------------------------------------------- which runs count
def counted(runs: pd.DataFrame, statuses=("finished",)) -> pd.DataFrame:
    """The finished runs that count (or those of ``statuses``): duplicates dropped."""
    dup = runs["duplicate_of"].fillna("").astype(str)
    return runs[runs["status"].isin(statuses) & (dup == "")]


def one_run_per_seed(runs: pd.DataFrame) -> pd.DataFrame:
    """One run per (dataset, model, activation, seed) where runs of different configs share one:
    the longest-trained, then the most recently written (a later re-run supersedes)."""
    key = ["dataset", "model", "activation", "seed"]
    if runs.empty or not runs.duplicated(key).any():
        return runs
    order = runs.sort_values(["max_epochs", "epochs_done", "written_at", "run_dir"], ascending=False, kind="stable")
    kept = order.drop_duplicates(key)
    for _, g in order[order.duplicated(key, keep=False)].groupby(key):
        print(f"warning: {len(g)} configs for one seed, using {g['run_dir'].iloc[0]} "
              f"(not {', '.join(g['run_dir'].iloc[1:])})", file=sys.stderr)
    return kept.sort_index()


def report(runs: pd.DataFrame, out=None) -> None:
    """Print what is finished, and every damaged, running, incomplete, failed, invalid or duplicate run."""
    out = out or sys.stderr
    dup = runs["duplicate_of"].fillna("").astype(str) != ""
    status = runs.loc[~dup, "status"].value_counts()
    print(
        f"{len(runs)} run folders: {status.get('finished', 0)} finished, {status.get('diverged', 0)} diverged, "
        f"{status.get('damaged', 0)} damaged, {status.get('running', 0)} running, {status.get('incomplete', 0)} incomplete, "
        f"{status.get('failed', 0)} failed, {status.get('invalid', 0)} invalid, {int(dup.sum())} duplicates",
        file=out,
    )
    for _, r in runs[~dup & (runs["status"] == "diverged")].iterrows():
        print(f"  diverged (training loss {r.train_loss}): {r.run_dir}", file=out)
    for _, r in runs[~dup & (runs["status"] == "damaged")].iterrows():
        print(f"  damaged, not counted ({r.error}): {r.run_dir}", file=out)
    for state in ("running", "incomplete"):
        for _, r in runs[~dup & (runs["status"] == state)].iterrows():
            print(f"  {state} ({r.epochs_done}/{r.max_epochs} epochs): {r.run_dir}", file=out)
    for _, r in runs[~dup & runs["status"].isin(["failed", "invalid"])].iterrows():
        print(f"  {r.status}: {r.run_dir}: {r.error}", file=out)
    for _, r in runs[dup].iterrows():
        print(f"  duplicate: {r.run_dir} (same config as {r.duplicate_of})", file=out)
