"""pau-collect, pau-tables and pau-figures on run folders written here, every number hand-computed."""
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from pau import PAU, RPAU, plot
from pau.repro.analysis import cli, collect, figures, plots, stats, tables
from pau.repro import runs as run_folder
from pau.repro.errors import UserError
from pau.repro.analysis import paper as published

PAPER = Path(__file__).resolve().parents[1] / "results" / "paper"


def make_run(root, dataset, model, activation, seed, test_accs, *, max_epochs=None, finished=True, error=None,
             train_losses=None, mtime=None, extra=None, budget=None):
    """A run folder as pau-train writes it; one metrics row per entry of ``test_accs``."""
    d = Path(root) / dataset / model / activation / f"seed{seed}"
    d.mkdir(parents=True)
    max_epochs = max_epochs or len(test_accs)
    trainer = {"max_epochs": max_epochs, "limit_train_batches": 1.0, **((extra or {}).get("trainer", {}))}
    cfg = (
        f"seed: {seed}\npaths:\n  runs_dir: {root}\ndata:\n  name: {dataset}\n  batch_size: 256\n"
        + "".join(f"  {k}: {v}\n" for k, v in (extra or {}).get("data", {}).items())
        + f"model:\n  name: {model}\nactivation:\n  name: {activation}\ntrainer:\n"
        + "".join(f"  {k}: {v}\n" for k, v in trainer.items())
        + (f"budget: {budget}\n" if budget else "")
    )
    (d / "config.yaml").write_text(cfg)
    train_losses = train_losses or [1.0 / (e + 1) for e in range(len(test_accs))]
    pd.DataFrame({
        "epoch": range(1, len(test_accs) + 1), "train_loss": train_losses, "train_acc": test_accs,
        "test_loss": train_losses, "test_acc": test_accs, "lr": 0.1, "act_lr": 0.1, "epoch_seconds": 2.0,
    }).to_csv(d / "metrics.csv", index=False)
    if error:
        (d / "error.txt").write_text(f"Traceback (most recent call last):\n  File x\n{error}\n")
    elif finished:
        (d / "final_metrics.json").write_text(json.dumps({
            "status": "finished", "epochs": len(test_accs), "test_acc": test_accs[-1],
            "best_test_acc": max(test_accs), "train_loss": train_losses[-1], "seconds": 2.0 * len(test_accs),
            "seconds_per_epoch": 2.0, "num_parameters": 61746,
        }))
    if mtime is not None:
        for f in d.iterdir():
            os.utime(f, (mtime, mtime))
    return d


def md_rows(md):
    """First cell -> other cells of every body row of the Markdown tables in ``md``."""
    rows = {}
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("|--"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture
def grid(tmp_path):
    """MNIST/LeNet: ReLU, PAU 3 seeds; RPAU 2 + a failed one; Swish 2 + a half-finished one;
    a copy of ReLU seed 0 in a second root, and a folder whose config is not a run's."""
    runs = tmp_path / "runs"
    for seed, acc in enumerate([0.99, 0.98, 0.97]):
        make_run(runs, "mnist", "lenet", "relu", seed, [0.5, acc], mtime=2_000_000_000)
    for seed, acc in enumerate([0.992, 0.990, 0.988]):
        make_run(runs, "mnist", "lenet", "pau", seed, [0.6, acc])
    for seed, acc in enumerate([0.993, 0.989]):
        make_run(runs, "mnist", "lenet", "rpau", seed, [0.6, acc])
    make_run(runs, "mnist", "lenet", "rpau", 2, [0.6], max_epochs=2, error="RuntimeError: loss is nan")
    for seed, acc in enumerate([0.995, 0.985]):
        make_run(runs, "mnist", "lenet", "swish", seed, [0.7, acc])
    make_run(runs, "mnist", "lenet", "swish", 2, [0.7], max_epochs=2, finished=False)
    copy = tmp_path / "copy" / "relu0"
    shutil.copytree(runs / "mnist" / "lenet" / "relu" / "seed0", copy)
    for f in copy.iterdir():
        os.utime(f, (1_000_000_000, 1_000_000_000))  # older: the original is kept
    (tmp_path / "copy" / "other").mkdir()
    (tmp_path / "copy" / "other" / "config.yaml").write_text("lr: 0.1\n")
    return tmp_path


def test_collect_reads_status_duplicates_and_problems(grid, capsys):
    runs = collect.collect([grid / "runs", grid / "copy"])
    assert len(runs) == 14
    assert runs["status"].value_counts().to_dict() == {"finished": 11, "failed": 1, "incomplete": 1, "invalid": 1}
    dup = runs[runs["duplicate_of"] != ""]
    assert list(dup["run_dir"]) == [(grid / "copy" / "relu0").as_posix()]
    assert dup["duplicate_of"].iloc[0] == (grid / "runs/mnist/lenet/relu/seed0").as_posix()
    # The copy's folder name says nothing; its saved config says relu, seed 0.
    assert dup[["activation", "seed"]].iloc[0].tolist() == ["relu", 0]
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert (failed["activation"], failed["seed"], failed["error"]) == ("rpau", 2, "RuntimeError: loss is nan")
    half = runs[runs["status"] == "incomplete"].iloc[0]
    assert (half["activation"], half["epochs_done"], half["max_epochs"]) == ("swish", 1, 2)
    assert runs.loc[runs["status"] == "invalid", "error"].iloc[0].startswith("config.yaml lacks data.name")
    assert len(collect.counted(runs)) == 10
    relu0 = runs[(runs["activation"] == "relu") & (runs["seed"] == 0) & (runs["duplicate_of"] == "")].iloc[0]
    assert relu0["test_acc"] == 0.99 and relu0["best_test_acc"] == 0.99 and relu0["epochs_done"] == 2
    assert relu0["data_subset"] == "full"  # limit_train_batches=1.0 is all the data

    assert cli.collect_main([str(grid / "runs"), str(grid / "copy"), "--out", str(grid / "out" / "runs.csv")]) == 0
    err = capsys.readouterr().err
    assert "14 run folders: 10 finished, 0 diverged, 0 damaged, 0 running, 1 incomplete, 1 failed, 1 invalid, 1 duplicates" in err
    assert "incomplete (1/2 epochs)" in err and "RuntimeError: loss is nan" in err
    assert len(pd.read_csv(grid / "out" / "runs.csv")) == 14


def test_summary_mean_std_best_by_hand(grid):
    runs = collect.collect([grid / "runs", grid / "copy"])
    s = stats.summarize(runs).set_index("activation")
    # ReLU 99, 98, 97: mean 98, population std sqrt(2/3); the duplicate is not a fourth sample.
    assert s.loc["ReLU", "n"] == 3
    assert s.loc["ReLU", "mean"] == pytest.approx(98.0)
    assert s.loc["ReLU", "std"] == pytest.approx((2 / 3) ** 0.5)
    assert s.loc["ReLU", "best"] == pytest.approx(99.0)
    assert s.loc["PAU", "mean"] == pytest.approx(99.0) and s.loc["PAU", "std"] == pytest.approx((0.08 / 3) ** 0.5)
    assert (s.loc["RPAU", "n"], s.loc["RPAU", "mean"], s.loc["RPAU", "std"]) == (2, pytest.approx(99.1), pytest.approx(0.2))
    assert (s.loc["Swish", "n"], s.loc["Swish", "mean"], s.loc["Swish", "std"]) == (2, pytest.approx(99.0), pytest.approx(0.5))
    assert s.loc["Swish", "best"] == pytest.approx(99.5)
    # ddof=1: ReLU's sample std is exactly 1.
    assert stats.summarize(runs, ddof=1).set_index("activation").loc["ReLU", "std"] == pytest.approx(1.0)


def test_table2_cells_marks_and_paper_deltas(grid):
    runs = collect.collect([grid / "runs", grid / "copy"])
    out = grid / "tables"
    written = tables.write_tables(runs, out, paper_dir=PAPER)
    assert {p.name for p in written} == {"summary.csv", "table2.md", "table2.tex", "table5.md", "table5.tex"}
    md = (out / "table2.md").read_text()
    rows = md_rows(md)
    assert rows.pop("Activation")[:2] == ["MNIST LeNet mean ± std", "best"]
    assert list(rows) == ["ReLU", "Swish", "PAU", "RPAU"]  # the paper's row order, PAU family last
    # Paper MNIST/LeNet: ReLU 99.17 ± 0.05, best 99.25 -> deltas 98.00-99.17, 99.00-99.25.
    assert rows["ReLU"] == ["98.00 ± 0.82 (99.17 ± 0.05; -1.17)", "99.00 (99.25; -0.25)"]
    # Mean: RPAU 99.10 is best; PAU and Swish tie at 99.00 and share runner-up.
    assert rows["RPAU"][0] == "**•99.10 ± 0.20** (99.26 ± 0.11; -0.16)"
    assert rows["PAU"][0] == "**◦99.00 ± 0.16** (99.21 ± 0.04; -0.21)"
    assert rows["Swish"][0] == "**◦99.00 ± 0.50** (99.19 ± 0.09; -0.19)"
    # Best: Swish 99.50 first, RPAU 99.30 second.
    assert rows["Swish"][1] == "**•99.50** (99.29; +0.21)"
    assert rows["RPAU"][1] == "**◦99.30** (99.42; -0.12)"
    assert rows["PAU"][1] == "99.20 (99.26; -0.06)"
    assert "Budget: max_epochs 2; seeds per cell 2-3 (0, 1, 2); data full; activations ReLU, Swish, PAU, RPAU." in md
    assert "Runs counted: 10 finished; not counted: 0 diverged, 0 damaged, 1 incomplete, 1 failed, 1 duplicates." in md
    assert "Paper: 100 epochs, 5 seeds, full data." in md
    tex = (out / "table2.tex").read_text()
    assert r"\textbf{$\bullet$99.10 $\pm$ 0.20} {\scriptsize(99.26 $\pm$ 0.11; $-0.16$)}" in tex
    assert r"\multicolumn{2}{c}{MNIST LeNet}" in tex


def test_table5_pairs_runs_by_seed(grid):
    runs = collect.collect([grid / "runs", grid / "copy"])
    by_run = stats.table5_by_run(runs).set_index("baseline")
    # seed 0: family max(99.2, 99.3)=99.3 >= ReLU 99.0, < Swish 99.5; seed 1: 99.0 >= 98.0 and >= 98.5;
    # seed 2: PAU 98.8 >= ReLU 97.0 (RPAU failed, Swish unfinished: no Swish comparison).
    assert by_run.loc["ReLU"].tolist() == [3, 0]
    assert by_run.loc["Swish"].tolist() == [1, 1]
    assert by_run.loc["ELU"].tolist() == [0, 0]
    by_col = stats.table5_by_column(stats.summarize(runs)).set_index("baseline")
    assert by_col.loc["ReLU"].tolist() == [1, 0] and by_col.loc["Swish"].tolist() == [1, 0]
    tables.write_tables(runs, grid / "t", paper_dir=PAPER)
    rows = md_rows((grid / "t" / "table5.md").read_text())
    assert rows["PAU/RPAU vs baseline"] == ["ReLU", "Swish"]  # only the baselines that were run
    assert rows["≥ baseline, runs paired by seed"] == ["3", "1"]
    assert rows["< baseline, runs paired by seed"] == ["0", "1"]
    assert rows["≥ baseline, column means"] == ["1", "1"]
    assert rows["paper: ≥ baseline (42 models)"] == ["34", "41"]
    assert rows["paper Tables 2-4: ≥ baseline, column means"] == ["9", "9"]


def test_table5_by_column_from_the_papers_own_tables():
    """The paper's Tables 2-4 give per-column counts; e.g. Maxout: VGG-8 92.51 < 93.03,
    MobileNetV2 94.82 >= 94.41, ResNet101 95.34 >= 95.11, DenseNet121 not run -> 2 / 1.
    ReLU loses only DenseNet121 (95.27 < 95.36); Swish only ImageNet top-5 (89.85 < 89.95);
    APL ties MNIST/VGG-8 (99.35 >= 99.35) and loses Fashion-MNIST/VGG-8 (91.25 < 91.41)."""
    counts = published.paper_table5_by_column(PAPER).set_index("baseline")
    expected = {
        "ReLU": [9, 1], "ReLU6": [9, 1], "LReLU": [9, 1], "RReLU": [10, 0], "ELU": [10, 0], "CELU": [10, 0],
        "PReLU": [10, 0], "Swish": [9, 1], "Maxout": [2, 1], "Mixture": [4, 0], "APL": [7, 1], "SReLU": [9, 1],
    }
    assert {b: counts.loc[b].tolist() for b in expected} == expected
    # The paper's own Table 5 counts runs (42 = 8 columns x 5 + ImageNet top-1, top-5): the totals agree.
    paper = pd.read_csv(PAPER / "table5_summary.csv").set_index("baseline")
    assert (paper.sum(axis=1)["ReLU"], paper.sum(axis=1)["Mixture"], paper.sum(axis=1)["Maxout"]) == (42, 20, 15)


def test_marks_reproduce_the_papers_table3():
    t3 = pd.read_csv(PAPER / "table3_cifar10.csv")
    vgg = t3[t3["architecture"] == "VGG-8"].set_index("activation")
    marks = stats.mark_column(vgg["mean"])
    assert (marks["Maxout"], marks["SReLU"]) == ("•", "◦") and (marks != "").sum() == 2
    res = t3[t3["architecture"] == "ResNet101"].set_index("activation")
    best = stats.mark_column(res["best"])
    assert (best["RPAU"], best["RReLU"]) == ("•", "◦")


def test_table4_layout_with_top5(tmp_path):
    root = tmp_path / "runs"
    for act, (a1, a5) in {"relu": (0.70, 0.89), "swish": (0.71, 0.90), "pau": (0.72, 0.895)}.items():
        d = make_run(root, "imagenet", "mobilenetv2_imagenet", act, 0, [a1])
        final = json.loads((d / "final_metrics.json").read_text())
        (d / "final_metrics.json").write_text(json.dumps({**final, "test_acc5": a5}))
    runs = collect.collect([root])
    tables.write_tables(runs, tmp_path / "t", paper_dir=PAPER)
    md = (tmp_path / "t" / "table4.md").read_text()
    rows = md_rows(md)
    assert rows["MobileNetV2"] == ["ReLU", "Swish", "PAU"]
    acc1, acc5 = rows["Acc@1"], rows["Acc@5"]
    # Paper: ReLU 69.65 / 89.09, Swish 71.24 / 89.95, PAU 71.35 / 89.85.
    assert acc1 == ["70.00 (69.65; +0.35)", "**◦71.00** (71.24; -0.24)", "**•72.00** (71.35; +0.65)"]
    assert acc5 == ["89.00 (89.09; -0.09)", "**•90.00** (89.95; +0.05)", "**◦89.50** (89.85; -0.35)"]
    # Table 5 counts ImageNet top-1 and top-5 separately: PAU beats ReLU twice, Swish once of two.
    by_run = stats.table5_by_run(runs).set_index("baseline")
    assert by_run.loc["ReLU"].tolist() == [2, 0] and by_run.loc["Swish"].tolist() == [1, 1]


def test_best_epoch_metric_is_each_runs_best_epoch_averaged_over_seeds(grid, capsys):
    """--metric best_epoch: per run the max of its metrics.csv test accuracy, then mean ± std and
    best over seeds as for the final epoch; written beside the final-epoch tables, which stay as they were."""
    # A run whose best epoch is not its last: ReLU seed 3 peaks at 0.995 in epoch 2 and ends at 0.96.
    make_run(grid / "runs", "mnist", "lenet", "relu", 3, [0.9, 0.995, 0.96])
    table = grid / "runs.csv"
    assert cli.collect_main([str(grid / "runs"), "--out", str(table)]) == 0
    out = grid / "t"
    assert cli.tables_main([str(table), "--out", str(out), "--paper", str(PAPER)]) == 0
    final = {p.name: p.read_text() for p in out.iterdir()}
    assert cli.tables_main([str(table), "--out", str(out), "--paper", str(PAPER), "--metric", "best_epoch"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        list(final) + ["summary_best_epoch.csv", "table2_best_epoch.md", "table2_best_epoch.tex",
                       "table5_best_epoch.md", "table5_best_epoch.tex"])
    assert {name: (out / name).read_text() for name in final} == final  # the default tables untouched

    runs = collect.read_runs_table(table)
    used = collect.counted(runs)
    best = {d: pd.read_csv(Path(d) / "metrics.csv")["test_acc"].max() for d in used["run_dir"]}
    assert (used["best_test_acc"] == used["run_dir"].map(best)).all()
    s = pd.read_csv(out / "summary_best_epoch.csv").set_index("activation")
    by_act = used.assign(best=100 * used["run_dir"].map(best)).groupby("activation")["best"]
    for key, name in (("relu", "ReLU"), ("pau", "PAU"), ("rpau", "RPAU"), ("swish", "Swish")):
        assert s.loc[name, "mean"] == pytest.approx(by_act.mean()[key], abs=5e-5)
        assert s.loc[name, "std"] == pytest.approx(by_act.std(ddof=0)[key], abs=5e-5)
        assert s.loc[name, "best"] == pytest.approx(by_act.max()[key], abs=5e-5)
    # By hand: ReLU's best epochs 0.99, 0.98, 0.97, 0.995 -> mean 98.375; the final epochs' mean is 97.5.
    rows = md_rows((out / "table2_best_epoch.md").read_text())
    assert rows["ReLU"] == ["98.38 ± 0.96 (99.17 ± 0.05; -0.79)", "**•99.50** (99.25; +0.25)"]
    assert md_rows(final["table2.md"])["ReLU"][0] == "97.50 ± 1.12 (99.17 ± 0.05; -1.67)"
    md = (out / "table2_best_epoch.md").read_text()
    assert md.startswith("## Table 2: MNIST and Fashion-MNIST (best epoch)\n")
    assert "- Best-epoch test accuracy (per run the highest test accuracy over its epochs" in md
    assert "Final-epoch" not in md and "- Final-epoch test accuracy in percent" in final["table2.md"]
    table5 = (out / "table5_best_epoch.md").read_text()
    assert table5.startswith("## Table 5: how often PAU/RPAU ≥ each baseline (best epoch)")
    assert "- Ours: Best-epoch test accuracy" in table5
    # Seed 3 (ReLU 99.5, no PAU/RPAU run) adds no comparison; seeds 0-2 as in the final epoch.
    assert md_rows(table5)["≥ baseline, runs paired by seed"][0] == "3"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.tables_main([str(table), "--out", str(out), "--metric", "best"])
    assert "--metric: invalid choice: 'best' (choose from 'final', 'best_epoch')" in capsys.readouterr().err


def test_best_epoch_top5_is_the_best_over_the_epochs_of_metrics_csv(tmp_path):
    root = tmp_path / "runs"
    for act, accs, accs5 in (("relu", [0.70, 0.69], [0.88, 0.89]), ("pau", [0.71, 0.72], [0.90, 0.895])):
        d = make_run(root, "imagenet", "mobilenetv2_imagenet", act, 0, accs)
        metrics = pd.read_csv(d / "metrics.csv").assign(test_acc5=accs5)
        metrics.to_csv(d / "metrics.csv", index=False)
        final = json.loads((d / "final_metrics.json").read_text())
        if act == "relu":  # a summary without its best epoch: read from metrics.csv
            del final["best_test_acc"]
        (d / "final_metrics.json").write_text(json.dumps({**final, "test_acc5": accs5[-1]}))
    runs = collect.collect([root])
    assert runs.set_index("activation")["best_test_acc"].isna().to_dict() == {"pau": False, "relu": True}
    tables.write_tables(runs, tmp_path / "t", paper_dir=PAPER, metric="best_epoch")
    md = (tmp_path / "t" / "table4_best_epoch.md").read_text()
    rows = md_rows(md)
    # Top-1 and top-5 each at their best epoch: ReLU 70.00 / 89.00, PAU 72.00 / 90.00.
    assert rows["Acc@1"] == ["**◦70.00** (69.65; +0.35)", "**•72.00** (71.35; +0.65)"]
    assert rows["Acc@5"] == ["**◦89.00** (89.09; -0.09)", "**•90.00** (89.85; +0.15)"]
    assert "- Best-epoch top-1 and top-5 test accuracy (per run the highest" in md
    with pytest.raises(UserError, match="unknown metric 'last'; choose one of final, best_epoch"):
        tables.write_tables(runs, tmp_path / "u", paper_dir=PAPER, metric="last")


def test_differing_configs_for_one_seed_keep_the_longest(tmp_path):
    make_run(tmp_path / "a", "mnist", "lenet", "relu", 0, [0.5, 0.9])
    make_run(tmp_path / "b", "mnist", "lenet", "relu", 0, [0.4])
    runs = collect.collect([tmp_path / "a", tmp_path / "b"])
    assert (runs["duplicate_of"] == "").all()  # different budgets: not the same config
    s = stats.summarize(runs)
    assert (s["n"].iloc[0], s["mean"].iloc[0]) == (1, pytest.approx(90.0))
    # Equal budgets: the later run supersedes (e.g. RPAU alpha 0.1 re-run after a grid with 0.01).
    make_run(tmp_path / "c", "mnist", "lenet", "relu", 0, [0.5, 0.8], mtime=1_000_000_000)
    make_run(tmp_path / "d", "mnist", "lenet", "relu", 0, [0.5, 0.7], mtime=1_500_000_000,
             extra={"trainer": {"gradient_clip_val": 1.0}})
    s = stats.summarize(collect.collect([tmp_path / "c", tmp_path / "d"]))
    assert (s["n"].iloc[0], s["mean"].iloc[0]) == (1, pytest.approx(70.0))


def test_budget_line_records_subsets_and_notes(tmp_path):
    for seed, acc in enumerate([0.9, 0.8]):
        make_run(tmp_path, "mnist", "lenet", "pau", seed, [acc], extra={"trainer": {"limit_train_batches": 4}},
                 budget="smoke test")
    runs = collect.collect([tmp_path])
    assert set(runs["data_subset"]) == {"trainer.limit_train_batches=4"}
    assert set(runs["budget_note"]) == {"smoke test"}
    tables.write_tables(runs, tmp_path / "t", paper_dir=PAPER)
    md = (tmp_path / "t" / "table2.md").read_text()
    assert ("Budget: max_epochs 1; seeds per cell 2 (0, 1); data trainer.limit_train_batches=4; "
            "activations PAU; noted: smoke test.") in md
    # 90 and 80: mean 85, population std 5; the paper's MNIST/LeNet PAU is 99.21 ± 0.04, best 99.26.
    assert md_rows(md)["PAU"] == ["**•85.00 ± 5.00** (99.21 ± 0.04; -14.21)", "**•90.00** (99.26; -9.26)"]


def test_curve_data_mean_and_band_per_epoch(grid):
    runs = collect.collect([grid / "runs"])
    c = figures.curve_data(runs).set_index(["activation", "epoch"])
    # RPAU seeds 0, 1: epoch 2 test_acc 0.993, 0.989 -> mean 0.991, population std 0.002; epoch 1: 0.6 both.
    assert c.loc[("rpau", 2), "test_acc_mean"] == pytest.approx(0.991)
    assert c.loc[("rpau", 2), "test_acc_std"] == pytest.approx(0.002)
    assert c.loc[("rpau", 1), "test_acc_std"] == pytest.approx(0.0)
    assert c.loc[("relu", 2), "n"] == 3 and c.loc[("relu", 2), "train_loss_mean"] == pytest.approx(0.5)
    written = figures.write_curves(figures.curve_data(runs), grid / "fig")
    assert sorted(p.name for p in written) == ["curves_mnist_lenet.pdf", "curves_mnist_lenet.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_noise_band_by_hand():
    """F = x / (1 + |x|) with 10% noise: at x=1, P in [0.9, 1.1], Q in [1.9, 2.1]; at x=2, P in [1.8, 2.2],
    Q in [2.8, 3.2]."""
    lo, hi = plot.noise_band(torch.tensor([0.0, 1.0]), torch.tensor([1.0]), "A", 0.1, torch.tensor([-1.0, 1.0, 2.0]))
    assert lo.tolist() == pytest.approx([-1.1 / 1.9, 0.9 / 2.1, 1.8 / 3.2])
    assert hi.tolist() == pytest.approx([-0.9 / 2.1, 1.1 / 1.9, 2.2 / 2.8])


def test_layer_inputs_and_learned_activation_figure(tmp_path):
    lin = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[2.0], [-1.0]]))
    model = nn.Sequential(lin, PAU(), nn.Linear(2, 2), RPAU(alpha=0.1))
    seen = plot.unit_inputs(model, torch.tensor([[1.0], [3.0]]))
    assert list(seen) == ["1", "3"]
    assert seen["1"].tolist() == [2.0, -1.0, 6.0, -3.0]
    assert model.training  # restored after the eval-mode pass
    written = figures.write_learned_activations(model, torch.tensor([[1.0], [3.0]]), tmp_path / "act")
    assert [p.suffix for p in written] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in written)


def test_columns_of_different_budgets_state_each_budget(tmp_path):
    # LeNet: 3 seeds of 2 epochs on the full set; VGG-8: 2 seeds of 1 epoch on a 4,000-image subset.
    for seed in range(3):
        make_run(tmp_path, "mnist", "lenet", "relu", seed, [0.97, 0.98])
    for seed in range(2):
        make_run(tmp_path, "mnist", "vgg8_mnist", "relu", seed, [0.5], extra={"data": {"train_subset": 4000}})
    runs = collect.collect([tmp_path])
    tables.write_tables(runs, tmp_path / "t", paper_dir=PAPER)
    md = (tmp_path / "t" / "table2.md").read_text()
    assert ("Budget per column — MNIST LeNet: max_epochs 2; seeds per cell 3 (0, 1, 2); data full; "
            "MNIST VGG-8: max_epochs 1; seeds per cell 2 (0, 1); data data.train_subset=4000. "
            "Activations ReLU.") in md
    summary = pd.read_csv(tmp_path / "t" / "summary.csv")
    assert summary["seconds_per_epoch"].tolist() == [2.0, 2.0]  # make_run's runs take 2 s per epoch


def test_diverged_runs_are_kept_apart_and_named(tmp_path):
    nan = float("nan")
    for seed, acc in enumerate([0.98, 0.96]):
        make_run(tmp_path, "mnist", "lenet", "slaf", seed, [acc])
    make_run(tmp_path, "mnist", "lenet", "slaf", 2, [0.5, 0.098], train_losses=[0.5, nan])
    for seed in range(2):
        make_run(tmp_path, "mnist", "vgg8_mnist", "slaf", seed, [0.098], train_losses=[float("inf")])
    runs = collect.collect([tmp_path])
    assert runs["status"].tolist() == ["finished", "finished", "diverged", "diverged", "diverged"]
    s = stats.summarize(runs).set_index("model_key")
    # 98 and 96: mean 97, population std 1; the diverged run's 9.8% is not averaged in.
    assert (s.loc["lenet", "n"], s.loc["lenet", "diverged"], s.loc["lenet", "mean"]) == (2, 1, pytest.approx(97.0))
    assert (s.loc["vgg8_mnist", "n"], s.loc["vgg8_mnist", "diverged"]) == (0, 2)
    tables.write_tables(runs, tmp_path / "t", paper_dir=PAPER)
    md = (tmp_path / "t" / "table2.md").read_text()
    # The paper's column order: VGG-8, then LeNet.
    assert md_rows(md)["SLAF"] == ["2 of 2 diverged (paper —)", "— (paper —)",
                                   "**•97.00 ± 1.00 (1 of 3 diverged)** (paper —)", "**•98.00** (paper —)"]
    assert "not counted: 3 diverged, 0 damaged, 0 incomplete, 0 failed, 0 duplicates." in md


# --------------------------------------------------------------------------- runs.csv from anywhere
def test_runs_table_stores_folders_relative_to_itself_and_resolves_from_anywhere(grid, monkeypatch, capsys):
    table = grid / "results" / "runs.csv"
    assert cli.collect_main([str(grid / "runs"), "--out", str(table)]) == 0
    stored = pd.read_csv(table)["run_dir"]
    assert stored.str.startswith("../runs/mnist/lenet/").all()
    elsewhere = grid / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    runs = collect.read_runs_table("../../results/runs.csv")
    assert set(runs["run_dir"]) == {d.as_posix() for d in (grid / "runs").glob("mnist/lenet/*/seed*")}
    assert cli.figures_main(["../../results/runs.csv", "--out", "figs", "--no-activations"]) == 0
    assert sorted(p.name for p in (elsewhere / "figs").iterdir()) == ["curves_mnist_lenet.pdf", "curves_mnist_lenet.png"]
    assert cli.tables_main(["../../results/runs.csv", "--out", "tabs"]) == 0
    assert "Runs counted: 10 finished" in (elsewhere / "tabs" / "table2.md").read_text()


# --------------------------------------------------------------------------- damaged runs
def test_a_finished_run_with_a_cut_metrics_file_is_damaged_and_left_out(tmp_path, capsys):
    for seed, acc in enumerate([0.97, 0.98, 0.99]):
        make_run(tmp_path / "runs", "mnist", "lenet", "relu", seed, [0.5, 0.6, acc])
    cut = tmp_path / "runs" / "mnist" / "lenet" / "relu" / "seed2" / "metrics.csv"
    cut.write_text("\n".join(cut.read_text().splitlines()[:2]) + "\n")  # header and epoch 1 of 3
    runs = collect.collect([tmp_path / "runs"])
    damaged = runs[runs["seed"] == 2].iloc[0]
    assert (damaged["status"], damaged["error"]) == ("damaged", "metrics.csv holds 1 of the 3 epochs trained")
    s = stats.summarize(runs).iloc[0]
    assert (s["n"], s["mean"]) == (2, pytest.approx(97.5))  # 97 and 98; not 99
    curves = figures.curve_data(runs).set_index("epoch")
    assert curves["n"].tolist() == [2, 2, 2]  # the same seeds at every epoch, not 3 then 2
    collect.report(runs)
    assert f"damaged, not counted (metrics.csv holds 1 of the 3 epochs trained): {cut.parent.as_posix()}" in (
        capsys.readouterr().err)
    tables.write_tables(runs, tmp_path / "t")
    assert "not counted: 0 diverged, 1 damaged, 0 incomplete" in (tmp_path / "t" / "table2.md").read_text()


def test_curve_legends_say_how_many_seeds_each_line_averages(grid):
    curves = figures.curve_data(collect.collect([grid / "runs"]))
    fig = plots.curves_figure(curves, "mnist", "lenet")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["ReLU (3 seeds)", "Swish (2 seeds)", "PAU (3 seeds)", "RPAU (2 seeds)"]
    assert (plots.seeds_label([1, 1]), plots.seeds_label([2, 3])) == ("1 seed", "2-3 seeds")


# --------------------------------------------------------------------------- one-line errors
def _one_line_error(capsys, main, argv, prog):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def no_full_error(monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)


@pytest.mark.parametrize("command", ["tables", "figures"])
def test_a_missing_runs_table_is_one_line_naming_pau_collect(tmp_path, capsys, no_full_error, command):
    main, prog = getattr(cli, f"{command}_main"), f"pau-{command}"
    line = _one_line_error(capsys, main, [str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")], prog)
    assert f"no runs table at {tmp_path / 'none.csv'}" in line and "pau-collect" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content, says", [
    (b"\xff\xfe\x00\x81 binary\n", "is corrupt"),
    (b"", "is empty: not a runs table"),
    (b"lr,acc\n0.1,0.9\n", "is not a runs table: it lacks the columns dataset, model"),
])
def test_a_corrupt_or_foreign_runs_table_is_named(tmp_path, capsys, no_full_error, content, says):
    bad = tmp_path / "runs.csv"
    bad.write_bytes(content)
    for main, prog in ((cli.tables_main, "pau-tables"), (cli.figures_main, "pau-figures")):
        line = _one_line_error(capsys, main, [str(bad), "--out", str(tmp_path / "o")], prog)
        assert f"{bad} {says}" in line


def test_pau_collect_errors(tmp_path, capsys, no_full_error):
    line = _one_line_error(capsys, cli.collect_main, [str(tmp_path / "nowhere")], "pau-collect")
    assert line == f"pau-collect: no folder {tmp_path / 'nowhere'} (give the folders that hold the run folders, e.g. runs/)"
    (tmp_path / "empty").mkdir()
    line = _one_line_error(capsys, cli.collect_main, [str(tmp_path / "empty"), "--out", str(tmp_path / "r.csv")],
                           "pau-collect")
    assert line == f"pau-collect: no run folders (config.yaml) below {tmp_path / 'empty'}"
    assert not (tmp_path / "r.csv").exists()


def test_no_finished_run_and_an_unwritable_output_are_one_line(grid, capsys, no_full_error):
    make_run(grid / "half", "mnist", "lenet", "relu", 0, [0.5], max_epochs=3, finished=False)
    assert cli.collect_main([str(grid / "half"), "--out", str(grid / "half.csv")]) == 0
    capsys.readouterr()
    line = _one_line_error(capsys, cli.tables_main, [str(grid / "half.csv"), "--out", str(grid / "t")], "pau-tables")
    assert line == "pau-tables: no finished runs to tabulate (1 incomplete)"
    assert cli.collect_main([str(grid / "runs"), "--out", str(grid / "runs.csv")]) == 0
    capsys.readouterr()
    (grid / "a_file").write_text("")
    line = _one_line_error(capsys, cli.tables_main, [str(grid / "runs.csv"), "--out", str(grid / "a_file" / "t")],
                           "pau-tables")
    assert line.startswith(f"pau-tables: cannot write under {grid / 'a_file' / 't'}: ")


def test_missing_paper_tables_are_said_never_dropped_silently(grid, capsys, no_full_error):
    assert cli.collect_main([str(grid / "runs"), "--out", str(grid / "runs.csv")]) == 0
    (grid / "no_paper").mkdir()
    capsys.readouterr()
    assert cli.tables_main([str(grid / "runs.csv"), "--out", str(grid / "t"), "--paper", str(grid / "no_paper")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"pau-tables: the paper's values are left out where their table is missing: no "
                   f"table2_mnist_fmnist.csv, table3_cifar10.csv, table4_imagenet.csv, table5_summary.csv in "
                   f"{grid / 'no_paper'}"]
    md = (grid / "t" / "table2.md").read_text()
    assert "Without the paper's values: table2_mnist_fmnist.csv was not found." in md and "(99.17" not in md
    line = _one_line_error(capsys, cli.tables_main, [str(grid / "runs.csv"), "--paper", str(grid / "nope")],
                           "pau-tables")
    assert line.startswith(f"pau-tables: no folder {grid / 'nope'} for --paper")


def test_a_missing_or_corrupt_checkpoint_is_a_warning_line(grid, capsys, no_full_error):
    assert cli.collect_main([str(grid / "runs"), "--out", str(grid / "runs.csv")]) == 0
    run = grid / "runs" / "mnist" / "lenet" / "pau" / "seed0"
    capsys.readouterr()
    assert cli.figures_main([str(grid / "runs.csv"), "--out", str(grid / "f"), "--checkpoints", str(run)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"pau-figures: no checkpoint at {run / 'checkpoints' / 'last.ckpt'}: the run was not trained "
                   "here, or its checkpoints were removed"]
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint" * 10)
    assert cli.figures_main([str(grid / "runs.csv"), "--out", str(grid / "f"), "--checkpoints", str(run)]) == 0
    line, hint = capsys.readouterr().err.splitlines()
    assert line == f"pau-figures: the checkpoint {run / 'checkpoints' / 'last.ckpt'} is damaged (File is not a zip file)"
    assert hint.startswith("hint: ")
    assert sorted(p.name for p in (grid / "f").iterdir()) == ["curves_mnist_lenet.pdf", "curves_mnist_lenet.png"]


# --------------------------------------------------------------------------- pruning results
def make_pruning_run(root, activation, seed, accs):
    """A pau-prune run folder: its config and a pruning.csv row per level (0, 30, 60 percent)."""
    d = Path(root) / "digits" / "lenet" / activation / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "prune_config.yaml").write_text(
        f"seed: {seed}\ndata:\n  name: digits\nmodel:\n  name: lenet\nactivation:\n  name: {activation}\n"
        "trainer:\n  max_epochs: 2\npruning:\n  levels: [30, 60]\n  criterion: l1\n  relative_to: original\n"
        "  reset: true\n")
    pd.DataFrame({"level": [0, 1, 2], "percent": [0.0, 30.0, 60.0], "parameters": [100, 70, 40], "test_acc": accs,
                  "inference_ms_per_batch": 1.0, "masked_layers": "", "stored_parameters": [100, 70, 40],
                  "filters": "", "best_test_acc": accs, "train_loss": 0.1, "epochs": 2, "seconds": 1.0,
                  }).to_csv(d / "pruning.csv", index=False)
    (d / "final_pruning.json").write_text(json.dumps({"status": "finished"}))
    return d


def test_pruning_results_are_collected_relative_tabulated_and_drawn(tmp_path, capsys, no_full_error):
    for seed, accs in enumerate([[0.9, 0.8, 0.7], [0.7, 0.6, 0.5]]):
        make_pruning_run(tmp_path / "runs", "pau", seed, accs)
    make_pruning_run(tmp_path / "runs", "relu", 0, [0.8, 0.7, 0.6])
    out = tmp_path / "results"
    assert cli.pruning_main([str(tmp_path / "runs"), "--out", str(out / "pruning.csv"),
                             "--tables", str(out / "tables"), "--figures", str(out / "figures")]) == 0
    assert pd.read_csv(out / "pruning.csv")["run_dir"].str.startswith("../runs/digits/lenet/").all()
    summary = pd.read_csv(out / "tables" / "pruning_summary.csv").set_index(["activation", "percent"])
    assert (summary.loc[("pau", 30.0), "n"], summary.loc[("pau", 30.0), "mean"]) == (2, pytest.approx(70.0))
    assert summary.loc[("pau", 30.0), "std"] == pytest.approx(10.0)
    rows = md_rows((out / "tables" / "pruning.md").read_text())
    # ReLU first, PAU last; at 30% both average 70% and share the mark.
    assert rows["30"] == ["**•70.00 ± 0.00 (n=1)**", "70", "1.00", "**•70.00 ± 10.00 (n=2)**", "70", "1.00"]
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["fig4_pruning.pdf", "fig4_pruning.png"]
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    line = _one_line_error(capsys, cli.pruning_main, [str(tmp_path / "empty")], "python -m pau.repro.analysis.pruning")
    assert line.endswith(f"no pruning runs (prune_config.yaml) below {tmp_path / 'empty'}")


def test_a_run_whose_lock_is_held_is_running_and_not_counted(tmp_path, capsys):
    half = make_run(tmp_path, "mnist", "lenet", "relu", 0, [0.5], max_epochs=3, finished=False)
    make_run(tmp_path, "mnist", "lenet", "relu", 1, [0.5, 0.6, 0.7])
    with run_folder.locked(half, timeout=0):
        runs = collect.collect([tmp_path])
    assert runs.set_index("seed")["status"].to_dict() == {0: "running", 1: "finished"}
    collect.report(runs)
    assert f"running (1/3 epochs): {half.as_posix()}" in capsys.readouterr().err
    assert collect.collect([tmp_path]).set_index("seed").loc[0, "status"] == "incomplete"  # released


def test_tables_by_a_swept_key(tmp_path, capsys):
    """pau-tables --by optim.act_lr: one row per value, its seeds' mean, std and best; null first."""
    runs = tmp_path / "runs"
    for act_lr, accs in (("0.1", [0.90, 0.92]), (None, [0.97, 0.99]), ("0.001", [0.95, 0.96])):
        root = runs / f"act_lr={act_lr}"
        for seed, acc in enumerate(accs):
            make_run(root, "mnist", "lenet", "pau", seed, [0.5, acc])
            if act_lr is not None:
                with open(root / "mnist" / "lenet" / "pau" / f"seed{seed}" / "config.yaml", "a") as f:
                    f.write(f"optim:\n  lr: 0.002\n  act_lr: {act_lr}\n")
    table = tmp_path / "runs.csv"
    assert cli.collect_main([str(runs), "--out", str(table)]) == 0
    assert cli.tables_main([str(table), "--out", str(tmp_path / "t"), "--by", "optim.act_lr"]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["sweep_optim.act_lr.csv", "sweep_optim.act_lr.md"]
    summary = pd.read_csv(tmp_path / "t" / "sweep_optim.act_lr.csv", keep_default_na=False)
    assert list(summary["optim.act_lr"].astype(str)) == ["null", "0.001", "0.1"]
    assert list(summary["n"]) == [2, 2, 2] and list(summary["seeds"]) == ["0 1"] * 3
    assert summary["mean"].tolist() == pytest.approx([98.0, 95.5, 91.0])
    assert summary["std"].tolist() == pytest.approx([1.0, 0.5, 1.0])
    md = (tmp_path / "t" / "sweep_optim.act_lr.md").read_text()
    assert "98.00 ± 1.00" in md and "95.50 ± 0.50" in md and "91.00 ± 1.00" in md
    # a key that names a group, not a value: one line naming the fix
    with pytest.raises(SystemExit) as exit_:
        cli.tables_main([str(table), "--out", str(tmp_path / "u"), "--by", "optim"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "optim is a group of keys" in err and "Traceback" not in err


def test_the_tables_say_how_each_column_trained(tmp_path):
    """The runs table records each run's optimiser, batch, clipping and initialisation, and the
    budget notes print them per column."""
    cfg = {"optim": {"name": "sgd", "lr": 0.01, "momentum": 0.5, "weight_decay": 0.0, "act_lr": None},
           "data": {"batch_size": 256}, "trainer": {"gradient_clip_val": None}, "model": {"weight_init": "kaiming"}}
    assert collect.training_setup(cfg) == "sgd lr 0.01 momentum 0.5, batch 256, kaiming init"
    adam = {"optim": {"name": "adam", "lr": 0.01, "act_lr": 0.001}, "data": {"batch_size": 64},
            "trainer": {"gradient_clip_val": 5.0}, "model": {"name": "lenet"}}  # saved before weight_init existed
    assert collect.training_setup(adam) == "adam lr 0.01 (PAU lr 0.001), batch 64, clip 5.0"
    runs = tmp_path / "runs"
    for model, setup in (("lenet", adam), ("vgg8_mnist", cfg)):
        make_run(runs, "mnist", model, "relu", 0, [0.5, 0.9])
        with open(runs / "mnist" / model / "relu" / "seed0" / "config.yaml", "a") as f:
            f.write(f"optim: {json.dumps(setup['optim'])}\n")
    table = collect.collect([runs])
    assert sorted(table["training"]) == ["adam lr 0.01 (PAU lr 0.001), batch 256", "sgd lr 0.01 momentum 0.5, batch 256"]
    notes = tables.budget_notes(table, ["mnist"], None, 0)
    assert "MNIST LeNet: max_epochs 2; seeds per cell 1 (0); data full; training adam lr 0.01 (PAU lr 0.001), batch 256" \
        in notes[0]
    assert "MNIST VGG-8: max_epochs 2; seeds per cell 1 (0); data full; training sgd lr 0.01 momentum 0.5, batch 256" \
        in notes[0]
