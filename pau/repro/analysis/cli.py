"""The analysis commands: ``pau-collect``, ``pau-tables``, ``pau-figures`` (and the pruning
shortcut ``python -m pau.repro.analysis.pruning``).

Each reports what a user can fix as one line (``report_user_errors``); a problem with
one run (a missing checkpoint, data not at hand) is a warning line and the rest is still
written. Written files are listed on stdout, reports go to stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import pandas as pd

from ..errors import UserError, format_user_error, report_user_errors
from ..resources import paper_dir
from ..runs import CONFIG, METRICS
from .collect import collect, counted, read_runs_table, report, write_runs_table
from .figures import curve_data, default_checkpoints, write_curves, write_run_activations
from .paper import missing_paper_files
from .pruning import COLLECTED as PRUNING_COLLECTED
from .pruning import CONFIG as PRUNE_CONFIG
from .pruning import write_collected, write_figure, write_table
from .stats import METRICS as TABLE_METRICS
from .sweep import write_sweep_table
from .tables import write_tables


def _warn(prog: str):
    """A warning line (a UserError's hint on a second line): the command goes on."""
    def warn(message):
        error = message if isinstance(message, UserError) else UserError(str(message))
        print(format_user_error(prog, error), file=sys.stderr)

    return warn


@contextlib.contextmanager
def _writing(where):
    """An unwritable output (read-only folder, full disk) as one line naming it."""
    try:
        yield
    except OSError as exc:
        raise UserError(f"cannot write under {where}: {exc.strerror or exc}; choose another folder with --out") from None


def _pruning_csv(runs_csv) -> Path:
    """Pruning runs are collected beside the runs table."""
    return Path(runs_csv).with_name(PRUNING_COLLECTED)


def _tables_of(runs_csv) -> tuple[Path, pd.DataFrame | None]:
    """pruning.csv beside the runs table, and the runs table itself (None where only a
    pruning.csv is there: pau-tables and pau-figures then make the pruning outputs alone)."""
    pruning_csv = _pruning_csv(runs_csv)
    runs = read_runs_table(runs_csv) if Path(runs_csv).is_file() or not pruning_csv.is_file() else None
    return pruning_csv, runs


def _listed(written) -> int:
    """Each written file on stdout; the command's exit status."""
    for path in written:
        print(path)
    return 0


@report_user_errors("pau-collect")
def collect_main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="pau-collect", description="One tidy table of runs (runs.csv) from run folders; pruning runs "
                                        "(pau-prune) go to pruning.csv beside it.")
    parser.add_argument("roots", nargs="*", default=["runs"], help="folders to search for runs (default: runs)")
    parser.add_argument("--out", default="results/runs.csv", help="where to write the runs table")
    args = parser.parse_args(argv)
    out = Path(args.out)
    runs = collect(args.roots)
    with _writing(out.parent):
        pruned = write_collected(args.roots, _pruning_csv(out))
        if runs.empty:
            if pruned:
                return 0
            raise UserError(f"no run folders ({CONFIG}) below {', '.join(args.roots)}")
        write_runs_table(runs, out)
    report(runs)
    print(f"wrote {out} ({len(counted(runs))} finished runs counted)", file=sys.stderr)
    return 0


@report_user_errors("pau-tables")
def tables_main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="pau-tables", description="Tables 2-5 of the paper from the runs table, beside the published numbers.")
    parser.add_argument("runs", nargs="?", default="results/runs.csv", help="runs table from pau-collect")
    parser.add_argument("--out", default="results/tables", help="output folder")
    parser.add_argument("--paper", help=f"folder of the paper's tables as CSV (default: {paper_dir()})")
    parser.add_argument("--ddof", type=int, default=0, help="std over seeds: 0 population (paper), 1 sample")
    parser.add_argument("--metric", choices=list(TABLE_METRICS), default="final",
                        help="each run's test accuracy at its final epoch (default), or its best over the epochs "
                             "(best_epoch: written as table2_best_epoch.md etc. beside the default tables)")
    parser.add_argument("--by", metavar="KEY",
                        help="instead of Tables 2-5, one table over a swept key (e.g. optim.act_lr): a row per "
                             "data set, network, activation and value, written as sweep_<KEY>.md and .csv")
    args = parser.parse_args(argv)
    warn = _warn("pau-tables")
    if args.by:
        with _writing(args.out):
            written = write_sweep_table(read_runs_table(args.runs), args.by, args.out, args.ddof, args.metric)
        return _listed(written)
    paper = Path(args.paper) if args.paper else paper_dir()
    if args.paper and not paper.is_dir():
        raise UserError(f"no folder {paper} for --paper (the paper's tables ship in {paper_dir()})")
    missing = missing_paper_files(paper)
    if missing:
        warn(f"the paper's values are left out where their table is missing: no {', '.join(missing)} in {paper}")
    pruning_csv, runs = _tables_of(args.runs)
    with _writing(args.out):
        written = list(write_table(pruning_csv, args.out, args.ddof))
        if runs is not None:
            try:
                written += write_tables(runs, args.out, paper, args.ddof, args.metric)
            except UserError as exc:
                if not written:
                    raise
                warn(str(exc))
    if not written:
        raise UserError(f"nothing to tabulate: {pruning_csv} holds no pruning level and there is no {args.runs}")
    return _listed(written)


@report_user_errors("pau-figures")
def figures_main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="pau-figures",
        description="Training curves (Figs. 2, 5-8), learned activations (Fig. 3) and, from pruning.csv "
                    "beside the runs table, accuracy under pruning (Fig. 4).")
    parser.add_argument("runs", nargs="?", default="results/runs.csv", help="runs table from pau-collect")
    parser.add_argument("--out", default="results/figures", help="output folder")
    parser.add_argument("--checkpoints", nargs="*", metavar="RUN_DIR",
                        help="run folders to draw the learned activations of (default: one per PAU/RPAU cell)")
    parser.add_argument("--no-curves", action="store_true", help="skip the training curves")
    parser.add_argument("--no-activations", action="store_true", help="skip the learned activations")
    parser.add_argument("--data-root", help="where the runs' data sets are, if not their saved data.root")
    parser.add_argument("--ddof", type=int, default=0, help="std over seeds for the bands: 0 population, 1 sample")
    args = parser.parse_args(argv)
    warn = _warn("pau-figures")
    pruning_csv, runs = _tables_of(args.runs)
    with _writing(args.out):
        written = list(write_figure(pruning_csv, args.out, args.ddof))
        if runs is not None and not args.no_curves:
            curves = curve_data(runs, ddof=args.ddof)
            if curves.empty:
                warn(f"no curves: no finished run in {args.runs} has its {METRICS}")
            else:
                written += write_curves(curves, args.out)
        if runs is not None and not args.no_activations:
            run_dirs = args.checkpoints if args.checkpoints is not None else default_checkpoints(runs)
            for run_dir in run_dirs:
                try:
                    written += write_run_activations(run_dir, args.out, args.data_root, warn=warn)
                except UserError as exc:
                    warn(exc)
    if not written:
        raise UserError(f"no figure to draw from {args.runs}: no finished run with its {METRICS} or a PAU checkpoint")
    return _listed(written)


@report_user_errors("python -m pau.repro.analysis.pruning")
def pruning_main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pau.repro.analysis.pruning",
        description="The pruning experiment's results: pruning.csv, its table and Fig. 4.")
    parser.add_argument("roots", nargs="*", default=["runs"], help="folders to search for pruning runs (default: runs)")
    parser.add_argument("--out", default="results/pruning.csv", help="where to write the collected table")
    parser.add_argument("--tables", default="results/tables", help="folder for pruning.md/.tex")
    parser.add_argument("--figures", default="results/figures", help="folder for fig4_pruning.png/.pdf")
    parser.add_argument("--ddof", type=int, default=0)
    args = parser.parse_args(argv)
    with _writing(Path(args.out).parent):
        if write_collected(args.roots, args.out) is None:
            raise UserError(f"no pruning runs ({PRUNE_CONFIG}) below {', '.join(args.roots)}")
        written = write_table(args.out, args.tables, args.ddof) + write_figure(args.out, args.figures, args.ddof)
    return _listed(written)
