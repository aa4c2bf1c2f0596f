"""``pau-tables``: Tables 2-5 of the paper from the runs table, beside the published numbers.

Conventions (each chosen to match how the paper's numbers were made):

- A run's accuracy is its final-epoch test accuracy (``test_acc``), in percent.
- mean ± std over seeds use the population std (ddof=0, numpy's default): the
  paper prints "90.60 ± 0.00" for SLAF/VGG-8/Fashion-MNIST, of which one run
  finished, where the sample std (ddof=1) is undefined. ``--ddof 1`` switches.
- best = max over seeds.
- best ("•") and runner-up ("◦") are marked per column, separately for mean and
  best, on full-precision values; exact ties share a mark.
- Table 5 counts, per baseline, the comparisons where the better of PAU and
  RPAU is >= the baseline, at the printed precision (two decimals). It counts
  two ways: per run, pairing runs of equal seed (the paper's unit: its 42
  "models" are 8 columns of Tables 2-3 x 5 runs, plus ImageNet top-1 and
  top-5), and per column, on the means. The paper's per-run accuracies are
  not published, so only the per-column count can be rederived from its
  Tables 2-4 (see ``paper_table5_by_column``).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .collect import counted
from .names import ACTIVATIONS, DATASETS, MODELS, PAU_FAMILY, display, order_rows

# The paper's tables as CSV, shipped in the source checkout's results/paper/.
PAPER_DIR = Path(__file__).resolve().parents[3] / "results" / "paper"


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    datasets: tuple[str, ...]  # registry names
    paper_csv: str | None
    paper_budget: str
    topk: bool = False  # Table 4: one run per activation, top-1 and top-5


TABLES = (
    TableSpec(
        "table2", "Table 2: MNIST and Fashion-MNIST", ("mnist", "fashion_mnist"), "table2_mnist_fmnist.csv",
        "100 epochs, 5 seeds, full data",
    ),
    TableSpec("table3", "Table 3: CIFAR-10", ("cifar10",), "table3_cifar10.csv", "400 epochs, 5 seeds, full data"),
    TableSpec(
        "table4", "Table 4: ImageNet, MobileNetV2", ("imagenet",), "table4_imagenet.csv",
        "1 run per activation, PyTorch's reference recipe (lr decayed at epochs 30, 60, 90), full data",
        topk=True,
    ),
)
TABLE5_BASELINES = ("ReLU", "ReLU6", "LReLU", "RReLU", "ELU", "CELU", "PReLU", "Swish", "Maxout", "Mixture", "APL", "SReLU")

BEST, RUNNER_UP = "•", "◦"


# --------------------------------------------------------------------------- statistics
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
            acc = 100.0 * g[col].astype(float).dropna()
            row[f"{prefix}mean"] = acc.mean() if len(acc) else np.nan
            row[f"{prefix}std"] = acc.std(ddof=ddof) if len(acc) > ddof else np.nan
            row[f"{prefix}best"] = acc.max() if len(acc) else np.nan
        # The cost of a cell: wall seconds per epoch (training plus test pass), median over its seeds.
        row["seconds_per_epoch"] = g["seconds_per_epoch"].astype(float).median()
        rows.append(row)
    return pd.DataFrame(rows)


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


def paper_summary(spec: TableSpec, paper_dir=PAPER_DIR) -> pd.DataFrame:
    """The paper's numbers for ``spec`` in ``summarize``'s columns (Table 4: acc1 -> mean, acc5 -> acc5_mean)."""
    if spec.paper_csv is None or not (Path(paper_dir) / spec.paper_csv).is_file():
        return pd.DataFrame(columns=["dataset", "architecture", "activation", "mean", "std", "best", "acc5_mean"])
    df = pd.read_csv(Path(paper_dir) / spec.paper_csv)
    if spec.topk:
        df = df.rename(columns={"acc1": "mean", "acc5": "acc5_mean"})
    return df


def mark_column(values: pd.Series) -> pd.Series:
    """'•' for the highest value, '◦' for the second highest (dense rank; exact ties share); '' else."""
    ranks = values.rank(method="dense", ascending=False)
    return ranks.map({1.0: BEST, 2.0: RUNNER_UP}).fillna("").astype(str)


# --------------------------------------------------------------------------- rendering
@dataclass
class Cell:
    text: str | None  # ours, e.g. "99.35 ± 0.04"; None when we have no run
    mark: str = ""
    paper: str | None = None
    delta: float | None = None

    def markdown(self) -> str:
        ours = "—" if self.text is None else self.text
        if self.mark:
            ours = f"**{self.mark}{ours}**"
        return ours + self._paper(lambda d: f"{d:+.2f}", " (", ")")

    def latex(self) -> str:
        ours = "---" if self.text is None else _tex(self.text)
        if self.mark:
            ours = r"\textbf{" + _tex(self.mark) + ours + "}"
        return ours + self._paper(lambda d: f"${d:+.2f}$", r" {\scriptsize(", ")}", tex=True)

    def _paper(self, fmt_delta, open_, close, tex=False) -> str:
        """The paper's value and ours minus it in parentheses; "paper <value>" when there is no difference."""
        if self.paper is None:
            return ""
        paper = _tex(self.paper) if tex else self.paper
        if self.delta is None or np.isnan(self.delta):
            return f"{open_}paper {paper}{close}"
        return f"{open_}{paper}; {fmt_delta(self.delta)}{close}"


def _tex(text: str) -> str:
    for a, b in (("_", r"\_"), ("%", r"\%"), ("±", r"$\pm$"), (BEST, r"$\bullet$"), (RUNNER_UP, r"$\circ$"),
                 ("—", "---"), ("≥", r"$\geq$"), ("Δ", r"$\Delta$"), ("×", r"$\times$")):
        text = text.replace(a, b)
    return text


def _fmt(mean, std=None) -> str | None:
    if mean is None or pd.isna(mean):
        return None
    if std is None:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}" if not pd.isna(std) else f"{mean:.2f}"


def render_markdown(header: list[str], rows: list[list], notes: list[str], title: str) -> str:
    body = [[r[0]] + [c.markdown() if isinstance(c, Cell) else str(c) for c in r[1:]] for r in rows]
    table = pd.DataFrame(body, columns=header).to_markdown(index=False, disable_numparse=True)
    return f"## {title}\n\n{table}\n\n" + "".join(f"- {n}\n" for n in notes)


def render_latex(header: list[str], rows: list[list], notes: list[str], title: str, groups=None) -> str:
    ncol = len(header)
    lines = [r"% " + title, r"\begin{table}[t]", r"\centering", r"\resizebox{\textwidth}{!}{%",
             r"\begin{tabular}{l" + "c" * (ncol - 1) + "}", r"\toprule"]
    if groups:  # [(label, span), ...] above the sub-headers
        cells = [""] + [rf"\multicolumn{{{span}}}{{c}}{{{_tex(label)}}}" for label, span in groups]
        lines.append(" & ".join(cells) + r" \\")
    if groups:  # the group label is on the line above: keep only the statistic below it
        header = [header[0]] + ["mean ± std" if h.endswith("mean ± std") else h for h in header[1:]]
    lines.append(" & ".join(_tex(h) for h in header) + r" \\")
    lines.append(r"\midrule")
    for r in rows:
        cells = [_tex(str(r[0]))] + [c.latex() if isinstance(c, Cell) else _tex(str(c)) for c in r[1:]]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\caption{" + _tex(title + ". " + " ".join(notes)) + "}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- tables 2-4
def budget_notes(runs: pd.DataFrame, datasets, paper_budget: str | None, ddof: int, topk: bool = False) -> list[str]:
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
        return (f"max_epochs {', '.join(map(str, epochs)) or '—'}; seeds per cell {n_seeds} "
                f"({', '.join(map(str, seeds))}); data {', '.join(subsets)}")

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
        f"{left_out.get('incomplete', 0)} incomplete, {left_out.get('failed', 0)} failed, {int(dup.sum())} duplicates.",
    ]
    if "budget_note" in used:
        remarks = sorted({str(b) for b in used["budget_note"].dropna() if str(b)})
        if remarks:
            notes[0] = notes[0][:-1] + f"; noted: {'; '.join(remarks)}."
    if paper_budget:
        notes.append(f"Paper: {paper_budget}. In parentheses: the paper's value; our value minus the paper's.")
    std = "population std (ddof=0), as the paper" if ddof == 0 else f"std with ddof={ddof}"
    if topk:
        notes.append(f"Final-epoch top-1 and top-5 test accuracy in percent (mean ± {std} over seeds "
                     f"when more than one); {BEST} best and {RUNNER_UP} runner-up per row.")
    else:
        notes.append(f"Final-epoch test accuracy in percent; mean ± {std}; best = max over seeds; "
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
                text = _fmt(ours_v, col.loc[a, "std"]) if stat == "mean" and a in col.index else _fmt(ours_v)
                if stat == "mean" and a in col.index and col.loc[a, "diverged"]:
                    total = int(col.loc[a, "n"] + col.loc[a, "diverged"])
                    gone = f"{int(col.loc[a, 'diverged'])} of {total} diverged"
                    text = gone if text is None else f"{text} ({gone})"
                if has_p:
                    p_text = _fmt(pap.loc[a, "mean"], pap.loc[a, "std"]) if stat == "mean" else _fmt(pap.loc[a, "best"])
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
            text = _fmt(v, o.loc[a, std] if o.loc[a, "n"] > 1 else None)
            pv = p.loc[a, mean] if a in p.index else np.nan
            p_text = _fmt(pv) if not pd.isna(pv) else None
            delta = round(v, 2) - pv if not (pd.isna(v) or pd.isna(pv)) else None
            row.append(Cell(text, marks.get(a, ""), p_text, delta))
        rows.append(row)
    return header, rows


# --------------------------------------------------------------------------- table 5
def _round(v):
    return np.round(v, 2)


def _family_vs(values: dict, baseline: str):
    """(>=, <) for one comparison: the better of PAU/RPAU against ``baseline`` in ``values``."""
    fam = [values[f] for f in PAU_FAMILY if f in values and not pd.isna(values[f])]
    if not fam or baseline not in values or pd.isna(values[baseline]):
        return None
    return _round(max(fam)) >= _round(values[baseline])



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


def paper_table5_by_column(paper_dir=PAPER_DIR) -> pd.DataFrame:
    """Table 5's per-column count rederived from the paper's own Tables 2-4."""
    summary = pd.concat([paper_summary(spec, paper_dir) for spec in TABLES], ignore_index=True)
    return table5_by_column(summary)


def table5(runs: pd.DataFrame, summary: pd.DataFrame, paper_dir=PAPER_DIR):
    by_run = table5_by_run(runs).set_index("baseline")
    by_col = table5_by_column(summary).set_index("baseline")
    paper_file = Path(paper_dir) / "table5_summary.csv"
    paper = pd.read_csv(paper_file).set_index("baseline") if paper_file.is_file() else None
    paper_cols = paper_table5_by_column(paper_dir).set_index("baseline")
    baselines = [b for b in TABLE5_BASELINES if by_run.loc[b].sum() or by_col.loc[b].sum()]
    header = ["PAU/RPAU vs baseline"] + baselines
    rows = [
        ["≥ baseline, runs paired by seed"] + [int(by_run.loc[b, "at_least"]) for b in baselines],
        ["< baseline, runs paired by seed"] + [int(by_run.loc[b, "below"]) for b in baselines],
        ["≥ baseline, column means"] + [int(by_col.loc[b, "at_least"]) for b in baselines],
        ["< baseline, column means"] + [int(by_col.loc[b, "below"]) for b in baselines],
    ]
    if paper is not None:
        rows += [
            ["paper: ≥ baseline (42 models)"] + [int(paper.loc[b].iloc[0]) for b in baselines],
            ["paper: < baseline"] + [int(paper.loc[b].iloc[1]) for b in baselines],
            ["paper Tables 2-4: ≥ baseline, column means"] + [int(paper_cols.loc[b, "at_least"]) for b in baselines],
            ["paper Tables 2-4: < baseline, column means"] + [int(paper_cols.loc[b, "below"]) for b in baselines],
        ]
    return header, rows


# --------------------------------------------------------------------------- driver
def write_tables(runs: pd.DataFrame, out_dir, paper_dir=PAPER_DIR, ddof: int = 0) -> list[Path]:
    """Every table the runs allow, as .md and .tex under ``out_dir``; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs, ddof=ddof)
    if summary.empty:
        raise ValueError("no finished runs to tabulate")
    summary.to_csv(out_dir / "summary.csv", index=False, float_format="%.4f")
    written = [out_dir / "summary.csv"]
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
        notes = budget_notes(runs, spec.datasets, spec.paper_budget if spec.paper_csv else None, ddof, spec.topk)
        if spec.topk:
            header, rows = topk_table(ours, paper, order)
            groups = None
        else:
            col_order = list(dict.fromkeys(zip(paper["dataset"], paper["architecture"]))) if len(paper) else None
            header, groups, rows = seeds_table(ours, paper, order, col_order)
        written += _write(out_dir / spec.name, header, rows, notes, spec.title, groups)
    header, rows = table5(runs, summary, paper_dir)
    cols = ", ".join(f"{d} {a}" for d, a in dict.fromkeys(zip(summary["dataset"], summary["architecture"])))
    notes = [
        f"Over the columns: {cols}. A column with top-5 accuracy counts top-1 and top-5 separately.",
        "Compared at two decimals; the better of PAU and RPAU (same seed for runs) against each baseline; ties count as ≥.",
        "The paper's 42 models are 8 columns of Tables 2-3 × 5 runs plus ImageNet top-1 and top-5; its per-run "
        "accuracies are unpublished, so only the column-mean count can be rederived from its Tables 2-4.",
    ]
    written += _write(out_dir / "table5", header, rows, notes, "Table 5: how often PAU/RPAU ≥ each baseline")
    return written


def _write(stem: Path, header, rows, notes, title, groups=None) -> list[Path]:
    md, tex = stem.with_suffix(".md"), stem.with_suffix(".tex")
    md.write_text(render_markdown(header, rows, notes, title))
    tex.write_text(render_latex(header, rows, notes, title, groups))
    return [md, tex]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pau-tables", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", default="results/runs.csv", help="runs table from pau-collect")
    parser.add_argument("--out", default="results/tables", help="output folder")
    parser.add_argument("--paper", default=str(PAPER_DIR), help="folder of the paper's tables as CSV (default: %(default)s)")
    parser.add_argument("--ddof", type=int, default=0, help="std over seeds: 0 population (paper), 1 sample")
    args = parser.parse_args(argv)
    from .pruning import write_table as write_pruning_table

    written = list(write_pruning_table(Path(args.runs).with_name("pruning.csv"), args.out, args.ddof))
    if Path(args.runs).is_file():
        runs = pd.read_csv(args.runs, keep_default_na=True)
        try:
            written += write_tables(runs, args.out, args.paper, args.ddof)
        except ValueError as exc:
            print(f"pau-tables: {exc}", file=sys.stderr)
            if not written:
                return 1
    elif not written:
        print(f"pau-tables: no runs table at {args.runs}; run pau-collect first", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
