"""The committed results are what the project's commands compute from the committed runs."""
from pathlib import Path

import pandas as pd
import pytest

from pau.repro.analysis import cli, collect

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "results" / "paper"
RESULTS = [ROOT / "results" / "mnist", ROOT / "results" / "mnist_authors"]
BEST_EPOCH = "_best_epoch"


@pytest.mark.parametrize("results", RESULTS, ids=lambda p: p.name)
def test_committed_runs_table_is_collected_from_committed_summaries(results, tmp_path):
    out = tmp_path / "runs.csv"
    assert cli.collect_main([str(results / "runs"), "--out", str(out)]) == 0
    # Folders are stored relative to the table, so the committed one points into its own folder.
    committed = pd.read_csv(results / "runs.csv")
    assert committed["run_dir"].str.startswith("runs/").all()
    # written_at is the files' modification time, which a checkout does not keep.
    fresh, committed = (collect.read_runs_table(p).drop(columns="written_at") for p in (out, results / "runs.csv"))
    pd.testing.assert_frame_equal(fresh, committed)


@pytest.mark.parametrize("results", RESULTS, ids=lambda p: p.name)
def test_committed_tables_are_what_pau_tables_computes(results, tmp_path):
    committed = sorted(p.name for p in (results / "tables").iterdir())
    assert cli.tables_main([str(results / "runs.csv"), "--out", str(tmp_path), "--paper", str(PAPER)]) == 0
    if any(BEST_EPOCH in name for name in committed):  # the best-epoch tables, where committed beside them
        assert cli.tables_main([str(results / "runs.csv"), "--out", str(tmp_path), "--paper", str(PAPER),
                                "--metric", "best_epoch"]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == committed
    for name in written:
        assert (tmp_path / name).read_text() == (results / "tables" / name).read_text(), name


@pytest.mark.parametrize("results", RESULTS, ids=lambda p: p.name)
def test_best_epoch_tables_of_the_committed_runs_average_each_runs_best_epoch(results, tmp_path):
    """pau-tables --metric best_epoch on the committed runs: every cell is the mean over seeds of
    the highest test accuracy in each run's committed metrics.csv."""
    assert cli.tables_main([str(results / "runs.csv"), "--out", str(tmp_path), "--paper", str(PAPER),
                            "--metric", "best_epoch"]) == 0
    runs = collect.counted(collect.read_runs_table(results / "runs.csv"))
    best = runs["run_dir"].map(lambda d: pd.read_csv(Path(d) / "metrics.csv")["test_acc"].max())
    expected = (100 * best).groupby([runs["model"], runs["activation"]]).agg(["mean", "max", "size"])
    summary = pd.read_csv(tmp_path / f"summary{BEST_EPOCH}.csv").set_index(["model_key", "activation_key"])
    assert len(summary) == len(expected) and len(expected) > 1
    for cell, row in expected.iterrows():
        assert summary.loc[cell, "n"] == row["size"]
        assert summary.loc[cell, "mean"] == pytest.approx(row["mean"], abs=5e-5), cell
        assert summary.loc[cell, "best"] == pytest.approx(row["max"], abs=5e-5), cell
    # Where a run's best epoch is not its last, the two tables differ.
    final = pd.read_csv(results / "tables" / "summary.csv").set_index(["model_key", "activation_key"])
    assert (summary["mean"] >= final.loc[summary.index, "mean"] - 5e-5).all()
    assert (summary["mean"] > final.loc[summary.index, "mean"] + 0.01).any()
    assert "(best epoch)" in (tmp_path / f"table2{BEST_EPOCH}.md").read_text().splitlines()[0]


# -- what the docs read from the committed MNIST results ------------------------------------------
SETTINGS = ROOT / "results" / "mnist" / "vgg8_settings.txt"


def vgg8_settings() -> dict:
    """results/mnist/vgg8_settings.txt as {(optimiser, initialisation): {activation: numbers}}."""
    import re

    out, setting, act = {}, None, None
    for line in SETTINGS.read_text().splitlines():
        if line.startswith("== "):
            m = re.match(r"== (\w+) lr [\d.]+, batch 256, model.weight_init=(\w+)", line)
            setting = m.groups()
            out[setting] = {}
            continue
        m = re.match(r"  (\w+)\s+std after each block: (.*); logit std across images (\S+) vs classifier-bias std (\S+)",
                     line)
        if m:
            act = m.group(1)
            out[setting][act] = {"stds": [float(v) for v in m.group(2).split()], "logit_std": float(m.group(3)),
                                 "bias_std": float(m.group(4))}
        elif "train loss" in line:
            m = re.search(r"train loss ([\d.]+) -> ([\d.]+); test-batch accuracy ([\d.]+)%", line)
            out[setting][act].update(loss=(float(m.group(1)), float(m.group(2))), accuracy=float(m.group(3)))
        elif "dead units" in line:
            dead = line.split("dead units after each activation:")[1].split(";")[0]
            out[setting][act]["dead"] = [int(v.rstrip("%")) for v in dead.split()]
        elif "first-conv gradient norm" in line:
            out[setting][act]["grad"] = float(line.split("norm")[1].split()[0])
    return out


def test_the_vgg8_settings_evidence_says_what_the_table2_runbook_reads():
    s = vgg8_settings()
    assert set(s) == {("adam", "pytorch"), ("adam", "kaiming"), ("sgd", "pytorch"), ("sgd", "kaiming")}
    for init in ("pytorch", "kaiming"):  # Adam: ReLU dead from block 2 on
        relu = s[("adam", init)]["relu"]
        assert relu["dead"][1] == 100 and relu["dead"][3] == 100 and relu["loss"][1] >= relu["loss"][0]
        assert max(s[("adam", init)]["lrelu"]["dead"]) == 0
    dead = s[("adam", "pytorch")]["relu"]
    assert dead["grad"] == 0.0 and dead["logit_std"] == 0.0
    assert s[("adam", "pytorch")]["lrelu"]["loss"] == (2.302, 8.759)
    assert s[("adam", "kaiming")]["relu"]["logit_std"] < 1e-4
    plateau = s[("sgd", "pytorch")]["relu"]  # alive, input-blind, not moving
    assert max(plateau["dead"]) <= 44 and plateau["stds"][0] / plateau["stds"][-1] > 50
    assert plateau["logit_std"] < plateau["bias_std"] and plateau["loss"][1] >= plateau["loss"][0]
    trains = s[("sgd", "kaiming")]  # experiment=table2's setup: alive, the signal kept, the loss falling
    assert max(trains["relu"]["dead"]) <= 26 and max(trains["relu"]["stds"]) / min(trains["relu"]["stds"]) < 2
    assert trains["relu"]["logit_std"] > trains["relu"]["bias_std"]
    for act in ("relu", "lrelu"):
        assert trains[act]["loss"][1] < trains[act]["loss"][0] - 0.05
