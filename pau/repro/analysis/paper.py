"""The paper's published tables (Tables 2-5 as CSV) and which of our tables each backs.

They ship with the package (``pau.repro.resources.paper_dir``); every reader takes
another folder too, and reads nothing (an empty table) where a file is absent, so
the caller can say which are missing (``missing_paper_files``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..resources import paper_dir
from .stats import table5_by_column

TABLE5_CSV = "table5_summary.csv"


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
PAPER_FILES = tuple(spec.paper_csv for spec in TABLES) + (TABLE5_CSV,)
SUMMARY_COLUMNS = ["dataset", "architecture", "activation", "mean", "std", "best", "acc5_mean"]


def missing_paper_files(folder) -> list[str]:
    """The paper's CSV files that ``folder`` lacks (all of them if it is not a folder)."""
    return [name for name in PAPER_FILES if not (Path(folder) / name).is_file()]


def paper_summary(spec: TableSpec, folder=None) -> pd.DataFrame:
    """The paper's numbers for ``spec`` in ``summarize``'s columns (Table 4: acc1 -> mean, acc5 -> acc5_mean);
    empty if ``folder`` lacks them."""
    path = Path(folder if folder is not None else paper_dir()) / str(spec.paper_csv)
    if spec.paper_csv is None or not path.is_file():
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    df = pd.read_csv(path)
    if spec.topk:
        df = df.rename(columns={"acc1": "mean", "acc5": "acc5_mean"})
    return df


def paper_table5(folder=None) -> pd.DataFrame | None:
    """The paper's Table 5 (per baseline: models where PAU/RPAU >= it, and < it), or None if absent."""
    path = Path(folder if folder is not None else paper_dir()) / TABLE5_CSV
    return pd.read_csv(path).set_index("baseline") if path.is_file() else None


def paper_table5_by_column(folder=None) -> pd.DataFrame:
    """Table 5's per-column count rederived from the paper's own Tables 2-4."""
    summary = pd.concat([paper_summary(spec, folder) for spec in TABLES], ignore_index=True)
    return table5_by_column(summary)
