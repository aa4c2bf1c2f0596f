"""Table 5: how often the better of PAU and RPAU is at least each baseline (counting in ``stats``)."""
from __future__ import annotations

import pandas as pd

from .names import TABLE5_BASELINES
from .paper import paper_table5, paper_table5_by_column
from .stats import table5_by_column, table5_by_run

TITLE = "Table 5: how often PAU/RPAU ≥ each baseline"


def table5(runs: pd.DataFrame, summary: pd.DataFrame, paper_dir=None):
    """Header and rows: our counts per run and per column, then the paper's (when its tables are at hand)."""
    by_run = table5_by_run(runs).set_index("baseline")
    by_col = table5_by_column(summary).set_index("baseline")
    paper = paper_table5(paper_dir)
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


def table5_notes(summary: pd.DataFrame) -> list[str]:
    cols = ", ".join(f"{d} {a}" for d, a in dict.fromkeys(zip(summary["dataset"], summary["architecture"])))
    return [
        f"Over the columns: {cols}. A column with top-5 accuracy counts top-1 and top-5 separately.",
        "Compared at two decimals; the better of PAU and RPAU (same seed for runs) against each baseline; ties count as ≥.",
        "The paper's 42 models are 8 columns of Tables 2-3 × 5 runs plus ImageNet top-1 and top-5; its per-run "
        "accuracies are unpublished, so only the column-mean count can be rederived from its Tables 2-4.",
    ]
