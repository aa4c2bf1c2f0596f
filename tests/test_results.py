"""The committed results are what the project's commands compute from the committed runs."""
from pathlib import Path

import pandas as pd
import pytest

from pau.repro.analysis import collect, tables

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "results" / "paper"
RESULTS = [ROOT / "results" / "mnist"]


@pytest.mark.parametrize("results", RESULTS, ids=lambda p: p.name)
def test_committed_runs_table_is_collected_from_committed_summaries(results, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # run folders are recorded relative to the checkout
    assert collect.main([str(results.relative_to(ROOT) / "runs"), "--out", str(tmp_path / "runs.csv")]) == 0
    # written_at is the files' modification time, which a checkout does not keep.
    fresh, committed = (pd.read_csv(p).drop(columns="written_at") for p in (tmp_path / "runs.csv", results / "runs.csv"))
    pd.testing.assert_frame_equal(fresh, committed)


@pytest.mark.parametrize("results", RESULTS, ids=lambda p: p.name)
def test_committed_tables_are_what_pau_tables_computes(results, tmp_path):
    assert tables.main([str(results / "runs.csv"), "--out", str(tmp_path), "--paper", str(PAPER)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in (results / "tables").iterdir())
    for name in written:
        assert (tmp_path / name).read_text() == (results / "tables" / name).read_text(), name
