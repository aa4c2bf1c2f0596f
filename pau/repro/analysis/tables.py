"""Tables 2-4 of the paper from the runs table, beside the published numbers, and the
driver that writes every table (Table 5 in ``table5``; the statistics in ``stats``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from .collect import counted, one_run_per_seed
from .markup import BEST, RUNNER_UP, Cell, format_accuracy, write_table
from .names import ACTIVATIONS, DATASETS, MODELS, display, order_rows
from .paper import TABLES, TableSpec, paper_summary
from .stats import METRICS, mark_column, summarize, with_metric
from .table5 import TITLE as TABLE5_TITLE
from .table5 import table5, table5_notes


def budget_notes(runs: pd.DataFrame, datasets, paper_budget: str | None, ddof: int, topk: bool = False,
                 metric: str = "final") -> list[str]:
    """What budget made a table: epochs, seeds, data, activations, and the runs that did not count.

    One line for the table when all its columns share a budget, else one line per column."""
    scope = runs[runs["dataset"].isin(datasets)]
    used = one_run_per_seed(counted(scope))

    def budget(part: pd.DataFrame) -> str:
        epochs = sorted({int(e) for e in part["max_epochs"].dropna()})
        per_cell = part.groupby(["dataset", "model", "activation"]).size()
        seeds = sorted({int(s) for s in part["seed"].dropna()})
        subsets = sorted(set(part["data_subset"].fillna("full")))
        n_seeds = f"{per_cell.min()}" if per_cell.min() == per_cell.max() else f"{per_cell.min()}-{per_cell.max()}"
        text = (f"max_epochs {', '.join(map(str, epochs)) or '—'}; seeds per cell {n_seeds} "
                f"({', '.join(map(str, seeds))}); data {', '.join(subsets)}")
        setups = sorted({str(t) for t in part["training"].dropna() if str(t)})
        return text + (f"; training {' | '.join(setups)}" if setups else "")

    columns = {(d, m): budget(g) for (d, m), g in used.groupby(["dataset", "model"], sort=False)}
    acts = [display(ACTIVATIONS, a) for a in ACTIVATIONS if a in set(used["activation"])]
    acts += sorted(set(used["activation"]) - set(ACTIVATIONS))
    dup = scope["duplicate_of"].fillna("").astype(str) != ""
    left_out = scope[~dup]["status"].value_counts()
    if len(set(columns.values())) <= 1:
        line = f"Budget: {budget(used)}; activations {', '.join(acts)}."
    else:
        per_column = "; ".join(f"{display(DATASETS, d)} {display(MODELS, m)}: {b}" for (d, m), b in columns.items())
        line = f"Budget per column — {per_column}. Activations {', '.join(acts)}."
    notes = [
        line,
        f"Runs counted: {len(used)} finished; not counted: {left_out.get('diverged', 0)} diverged, "
        f"{left_out.get('damaged', 0)} damaged, {left_out.get('incomplete', 0) + left_out.get('running', 0)} incomplete, "
        f"{left_out.get('failed', 0)} failed, {int(dup.sum())} duplicates.",
    ]
    if "budget_note" in used:
        remarks = sorted({str(b) for b in used["budget_note"].dropna() if str(b)})
        if remarks:
            notes[0] = notes[0][:-1] + f"; noted: {'; '.join(remarks)}."
    if paper_budget:
        notes.append(f"Paper: {paper_budget}. In parentheses: the paper's value; our value minus the paper's.")
    std = "population std (ddof=0), as the paper" if ddof == 0 else f"std with ddof={ddof}"
    shown = METRICS[metric][1]
    if topk:
        top = shown.replace("test accuracy", "top-1 and top-5 test accuracy", 1)
        notes.append(f"{top} in percent (mean ± {std} over seeds "
                     f"when more than one); {BEST} best and {RUNNER_UP} runner-up per row.")
    else:
        notes.append(f"{shown} in percent; mean ± {std}; best = max over seeds; "
                     f"{BEST} best and {RUNNER_UP} runner-up per column.")
    return notes


def seeds_table(ours: pd.DataFrame, paper: pd.DataFrame, paper_order=None, column_order=None):
    """Header and rows of a Table 2/3-style table: activations x (dataset, architecture) x {mean ± std, best}."""
    columns = list(dict.fromkeys(zip(ours["dataset"], ours["architecture"])))
    if column_order:
        columns = [c for c in column_order if c in columns] + [c for c in columns if c not in column_order]
    acts = order_rows(ours["activation"], paper_order or list(ACTIVATIONS.values()))
    header, groups, table = ["Activation"], [], {a: [a] for a in acts}
    for dataset, arch in columns:
        label = f"{dataset} {arch}"
        header += [f"{label} mean ± std", "best"]
        groups.append((label, 2))
        col = ours[(ours["dataset"] == dataset) & (ours["architecture"] == arch)].set_index("activation")
        pap = paper[(paper["dataset"] == dataset) & (paper["architecture"] == arch)].set_index("activation")
        marks = {s: mark_column(col[s].dropna()) for s in ("mean", "best")}
        for a in acts:
            has_p = a in pap.index and not pd.isna(pap.loc[a, "mean"])
            paper_known = a in pap.index
            for stat in ("mean", "best"):
                ours_v = col.loc[a, stat] if a in col.index else np.nan
                if stat == "mean" and a in col.index:
                    text = format_accuracy(ours_v, col.loc[a, "std"])
                else:
                    text = format_accuracy(ours_v)
                if stat == "mean" and a in col.index and col.loc[a, "diverged"]:
                    total = int(col.loc[a, "n"] + col.loc[a, "diverged"])
                    gone = f"{int(col.loc[a, 'diverged'])} of {total} diverged"
                    text = gone if text is None else f"{text} ({gone})"
                if has_p:
                    if stat == "mean":
                        p_text = format_accuracy(pap.loc[a, "mean"], pap.loc[a, "std"])
                    else:
                        p_text = format_accuracy(pap.loc[a, "best"])
                    delta = round(ours_v, 2) - pap.loc[a, stat] if not pd.isna(ours_v) else None
                else:
                    p_text, delta = ("—" if paper_known else None), None
                table[a].append(Cell(text, marks[stat].get(a, ""), p_text, delta))
    return header, groups, [table[a] for a in acts]


def topk_table(ours: pd.DataFrame, paper: pd.DataFrame, paper_order=None):
    """Header and rows of a Table 4-style table: Acc@1 and Acc@5 x activations."""
    acts = order_rows(ours["activation"], paper_order or list(ACTIVATIONS.values()))
    arch = ", ".join(dict.fromkeys(ours["architecture"]))
    o = ours.drop_duplicates("activation").set_index("activation")
    p = paper.drop_duplicates("activation").set_index("activation") if len(paper) else paper
    header, rows = [arch] + acts, []
    for label, mean, std in (("Acc@1", "mean", "std"), ("Acc@5", "acc5_mean", "acc5_std")):
        marks = mark_column(o[mean].dropna())
        row = [label]
        for a in acts:
            v = o.loc[a, mean]
            text = format_accuracy(v, o.loc[a, std] if o.loc[a, "n"] > 1 else None)
            pv = p.loc[a, mean] if a in p.index else np.nan
            p_text = format_accuracy(pv) if not pd.isna(pv) else None
            delta = round(v, 2) - pv if not (pd.isna(v) or pd.isna(pv)) else None
            row.append(Cell(text, marks.get(a, ""), p_text, delta))
        rows.append(row)
    return header, rows


def write_tables(runs: pd.DataFrame, out_dir, paper_dir=None, ddof: int = 0, metric: str = "final") -> list[Path]:
    """Every table the runs allow, as .md and .tex under ``out_dir``; returns the files written.
    ``paper_dir``: the paper's tables as CSV (default: the shipped ones). ``metric`` (``stats.METRICS``):
    what each run contributes, its final-epoch accuracy or its best over the epochs; tables of a metric
    other than "final" carry its name in their files (``table2_best_epoch.md``) and their titles."""
    runs = with_metric(runs, metric)
    suffix = METRICS[metric][0]
    tag = f" ({metric.replace('_', ' ')})" if suffix else ""
    summary = summarize(runs, ddof=ddof)
    if summary.empty:
        statuses = runs["status"].value_counts()
        found = ", ".join(f"{n} {s}" for s, n in statuses.items()) or "no runs"
        raise UserError(f"no finished runs to tabulate ({found})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out_dir / f"summary{suffix}.csv", index=False, float_format="%.4f")
    written = [out_dir / f"summary{suffix}.csv"]
    specs = list(TABLES)
    known = {d for s in TABLES for d in s.datasets}
    for dataset in dict.fromkeys(summary["dataset_key"]):
        if dataset not in known:
            specs.append(TableSpec(f"table_{dataset}", f"{display(DATASETS, dataset)}", (dataset,), None, ""))
    for spec in specs:
        ours = summary[summary["dataset_key"].isin(spec.datasets)]
        if ours.empty:
            continue
        paper = paper_summary(spec, paper_dir)
        order = list(dict.fromkeys(paper["activation"])) if len(paper) else None
        notes = budget_notes(runs, spec.datasets, spec.paper_budget if len(paper) else None, ddof, spec.topk, metric)
        if spec.paper_csv and not len(paper):
            notes.append(f"Without the paper's values: {spec.paper_csv} was not found.")
        if spec.topk:
            header, rows = topk_table(ours, paper, order)
            groups = None
        else:
            col_order = list(dict.fromkeys(zip(paper["dataset"], paper["architecture"]))) if len(paper) else None
            header, groups, rows = seeds_table(ours, paper, order, col_order)
        written += write_table(out_dir / f"{spec.name}{suffix}", header, rows, notes, spec.title + tag, groups)
    header, rows = table5(runs, summary, paper_dir)
    notes = table5_notes(summary) + ([f"Ours: {METRICS[metric][1]}."] if suffix else [])
    written += write_table(out_dir / f"table5{suffix}", header, rows, notes, TABLE5_TITLE + tag)
    return written
