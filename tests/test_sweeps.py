"""The experiment grids, and a real multirun of pau-train collected and tabulated end to end."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from pau.repro.analysis import cli, collect, tables
from pau.repro.training.config import register_configs

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sweep_jobs(*overrides):
    """The jobs ``pau-train -m <overrides>`` launches, each a dict of its swept keys, and the config."""
    register_configs()
    parser = OverridesParser.create()
    fixed = [o.input_line for o in parser.parse_overrides(list(overrides)) if not o.is_sweep_override()]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=fixed, return_hydra_config=True)
    # As Hydra's basic sweeper: the config's grid first, command-line values replace it.
    params = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()] + list(overrides)
    jobs = BasicSweeper.split_arguments(parser.parse_overrides(params), None)[0]
    return [dict(o.split("=", 1) for o in job) for job in jobs], cfg


@pytest.mark.parametrize(
    "experiment, n, data, models, n_acts, seeds",
    [
        # {MNIST, F-MNIST} x {LeNet, VGG-8} x 15 x 5
        ("table2", 300, {"mnist", "fashion_mnist"}, {"lenet", "vgg8_mnist"}, 15, {"0", "1", "2", "3", "4"}),
        ("table3", 280, {"cifar10"}, {"vgg8_cifar", "mobilenetv2_cifar", "resnet101_cifar", "densenet121_cifar"}, 14,
         {"0", "1", "2", "3", "4"}),
        ("table4", 10, {"imagenet"}, {"mobilenetv2_imagenet"}, 10, {"0"}),
        ("digits_demo", 10, {"digits"}, {"lenet"}, 5, {"0", "1"}),
    ],
)
def test_experiment_grids(experiment, n, data, models, n_acts, seeds):
    jobs, cfg = sweep_jobs(f"experiment={experiment}")
    assert len(jobs) == n
    assert {j.get("data", cfg.data.name) for j in jobs} == data
    # table2 sweeps each network with its setup (conf/setup/): the network is the setup's
    setup_models = {"lenet": "lenet", "vgg8_sgd": "vgg8_mnist", "vgg8_adam": "vgg8_mnist"}
    assert {j["model"] if "model" in j else setup_models[j["setup"]] if "setup" in j else cfg.model.name
            for j in jobs} == models
    assert len({j["activation"] for j in jobs}) == n_acts
    assert {j["seed"] for j in jobs} == seeds
    assert len({tuple(sorted(j.items())) for j in jobs}) == n  # no job twice


def test_table_grids_hold_the_papers_rows():
    paper = ROOT / "results" / "paper"
    names = {v: k for k, v in tables.ACTIVATIONS.items()}
    t3 = {names[a] for a in pd.read_csv(paper / "table3_cifar10.csv")["activation"]}
    t4 = {names[a] for a in pd.read_csv(paper / "table4_imagenet.csv")["activation"]}
    t2 = {names[a] for a in pd.read_csv(paper / "table2_mnist_fmnist.csv")["activation"]}
    assert {j["activation"] for j in sweep_jobs("experiment=table3")[0]} == t3
    assert {j["activation"] for j in sweep_jobs("experiment=table4")[0]} == t4
    # Table 2's grid is all 15 units: the paper's 13 rows plus Maxout and Mixture.
    assert {j["activation"] for j in sweep_jobs("experiment=table2")[0]} == t2 | {"maxout", "mixture"}


def test_budget_override_shrinks_the_grid_and_names_its_folder():
    jobs, cfg = sweep_jobs("experiment=table2", "trainer.max_epochs=3", "seed=0,1", "activation=relu,pau", "data=mnist")
    assert len(jobs) == 1 * 2 * 2 * 2  # data x model x activation x seed
    assert {j["trainer.max_epochs"] for j in jobs} == {"3"}
    assert cfg.trainer.max_epochs == 3 and cfg.paths.runs_dir == "runs/table2-3ep"
    full = sweep_jobs("experiment=table3")[1]
    assert full.trainer.max_epochs == 400 and full.paths.runs_dir == "runs/table3-400ep"


# The keys _train changes beyond the defaults name a folder level of their own.
CHANGED = "data.batch_size=32,data.num_test=32,data.num_train=64,trainer.max_epochs=1"


def _train(runs_dir, *extra):
    cmd = [
        str(BIN / "pau-train"), "-m", "data=synthetic", "model=lenet", "activation=relu,pau", "seed=0,1",
        "trainer.max_epochs=1", "data.num_train=64", "data.num_test=32", "data.batch_size=32",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", f"paths.runs_dir={runs_dir}", *extra,
    ]
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_multirun_collect_tabulate_end_to_end(tmp_path):
    runs_dir = tmp_path / "runs"
    _train(runs_dir)
    folders = sorted(p.parent.relative_to(runs_dir).as_posix() for p in runs_dir.rglob("final_metrics.json"))
    assert folders == [f"synthetic/lenet/{a}/{CHANGED}/seed{s}" for a in ("pau", "relu") for s in (0, 1)]

    runs = collect.collect([runs_dir])
    assert len(runs) == 4 and (runs["status"] == "finished").all() and (runs["duplicate_of"] == "").all()
    assert set(runs["max_epochs"]) == {1} and set(runs["epochs_done"]) == {1}
    finals = {(a, s): json.loads((runs_dir / f"synthetic/lenet/{a}/{CHANGED}/seed{s}/final_metrics.json")
                                 .read_text())["test_acc"]
              for a in ("relu", "pau") for s in (0, 1)}
    tables.write_tables(runs, tmp_path / "tables")
    md = (tmp_path / "tables" / "table_synthetic.md").read_text()
    for act, name in (("relu", "ReLU"), ("pau", "PAU")):
        a, b = 100 * finals[(act, 0)], 100 * finals[(act, 1)]
        mean, std, best = (a + b) / 2, abs(a - b) / 2, max(a, b)  # population std of two values
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} "))
        cells = [c.strip().strip("*").lstrip("•◦") for c in row.strip("|").split("|")]
        assert cells[1:] == [f"{mean:.2f} ± {std:.2f}", f"{best:.2f}"]
    assert ("Budget: max_epochs 1; seeds per cell 2 (0, 1); data full; training adam lr 0.002, batch 32; "
            "activations ReLU, PAU.") in md

    # Re-running: finished runs are skipped; a deleted run and an unfinished one are done again.
    (runs_dir / f"synthetic/lenet/relu/{CHANGED}/seed1").rename(tmp_path / "gone")
    unfinished = runs_dir / f"synthetic/lenet/pau/{CHANGED}/seed1"
    (unfinished / "final_metrics.json").unlink()
    shutil.rmtree(unfinished / "checkpoints")
    kept = runs_dir / f"synthetic/lenet/relu/{CHANGED}/seed0/final_metrics.json"
    before = kept.stat().st_mtime_ns
    _train(runs_dir)
    assert kept.stat().st_mtime_ns == before
    again = collect.collect([runs_dir])
    assert len(again) == 4 and (again["status"] == "finished").all()
    redone = json.loads((runs_dir / f"synthetic/lenet/relu/{CHANGED}/seed1/final_metrics.json").read_text())
    assert redone["test_acc"] == finals[("relu", 1)]  # the same seed trains to the same result

    # The three commands' entry points (each a process of its own would only add start-up time).
    out = tmp_path / "results"
    assert cli.collect_main([str(runs_dir), "--out", str(out / "runs.csv")]) == 0
    assert cli.tables_main([str(out / "runs.csv"), "--out", str(out / "tables")]) == 0
    assert cli.figures_main([str(out / "runs.csv"), "--out", str(out / "figures")]) == 0
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "activations_synthetic_lenet_pau_seed0.pdf", "activations_synthetic_lenet_pau_seed0.png",
        "curves_synthetic_lenet.pdf", "curves_synthetic_lenet.png"]
    assert sorted(p.name for p in (out / "tables").iterdir()) == [
        "summary.csv", "table5.md", "table5.tex", "table_synthetic.md", "table_synthetic.tex"]


def _without(df: pd.DataFrame, columns) -> pd.DataFrame:
    return df.drop(columns=[c for c in columns if c in df.columns])


def test_reproduce_digits_reproduces_the_committed_results(tmp_path):
    """``make reproduce`` (scripts/reproduce_digits.sh) computes the committed digits
    results exactly: the runs table, the tables and the figures, on any machine (the
    CPU trainer fixes the thread count). Timings and where the runs lie may differ."""
    committed = ROOT / "results"
    env = {**os.environ, "OUT": str(tmp_path), "RUNS": str(tmp_path / "runs")}
    env.pop("EPOCHS", None)
    proc = subprocess.run([str(ROOT / "scripts" / "reproduce_digits.sh")], capture_output=True, text=True, env=env,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    timing = ["seconds", "seconds_per_epoch", "written_at", "run_dir"]
    fresh, kept = (_without(pd.read_csv(p), timing).sort_values(["activation", "seed"]).reset_index(drop=True)
                   for p in (tmp_path / "runs.csv", committed / "runs.csv"))
    assert len(fresh) == 10 and (fresh["status"] == "finished").all()
    pd.testing.assert_frame_equal(fresh, kept)
    tables = sorted(p.name for p in (tmp_path / "tables").iterdir())
    assert tables == sorted(p.name for p in (committed / "tables").iterdir())
    for name in tables:
        if name.endswith(".csv"):
            pd.testing.assert_frame_equal(_without(pd.read_csv(tmp_path / "tables" / name), timing),
                                          _without(pd.read_csv(committed / "tables" / name), timing))
        else:
            assert (tmp_path / "tables" / name).read_text() == (committed / "tables" / name).read_text(), name
    figures = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert set(figures) <= {p.name for p in (committed / "figures").iterdir()}
    assert "curves_digits_lenet.png" in figures and "activations_digits_lenet_rpau_seed0.png" in figures
    for name in figures:  # a PDF holds its creation date; a PNG only what is drawn
        if name.endswith(".png"):
            assert (tmp_path / "figures" / name).read_bytes() == (committed / "figures" / name).read_bytes(), name


def test_the_readme_shows_the_committed_digits_table():
    """The README's digits table is the committed ``table_digits.md``, cell for cell."""
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in (ROOT / "results" / "tables" / "table_digits.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| Activation")]
    assert len(rows) == 5
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert "| " + " | ".join(cells) + " |" in readme, row
