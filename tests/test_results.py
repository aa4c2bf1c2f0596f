"""The committed results are what the project's commands compute from the committed runs."""
from pathlib import Path

import pandas as pd
import pytest

from pau.repro.analysis import cli, collect

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "results" / "paper"
RESULTS = [ROOT / "results" / "mnist", ROOT / "results" / "mnist_authors"]
# The learning-rate check is tabulated over optim.act_lr (pau-tables --by), not as Tables 2-5.
ACT_LR = ROOT / "results" / "mnist_act_lr"
BEST_EPOCH = "_best_epoch"


@pytest.mark.parametrize("results", RESULTS + [ACT_LR], ids=lambda p: p.name)
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
            m = re.match(r"== (\w+)(?: lr [\d.]+, batch 256)?, model.weight_init=(\w+)", line)
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
    assert set(s) == {("adam", "pytorch"), ("adam", "kaiming"), ("sgd", "pytorch"), ("sgd", "kaiming"),
                      ("fresh", "kaiming")}
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
    # fresh under torchvision's initialisation, Swish passes a tenth of ReLU's signal to the logits
    fresh = s[("fresh", "kaiming")]
    assert fresh["swish"]["stds"][0] / fresh["swish"]["stds"][-1] > 8 and max(fresh["relu"]["stds"]) < 0.2
    assert fresh["relu"]["logit_std"] > 10 * fresh["swish"]["logit_std"]
    assert fresh["relu"]["grad"] > 10 * fresh["swish"]["grad"]
    assert fresh["prelu"]["logit_std"] > 10 * fresh["swish"]["logit_std"]


def _summary(folder: str, metric: str = "") -> pd.DataFrame:
    return pd.read_csv(ROOT / "results" / folder / "tables" / f"summary{metric}.csv")


def _means(summary: pd.DataFrame, model: str) -> pd.Series:
    return summary[summary["model_key"] == model].set_index("activation")["mean"]


def _table_cells(path) -> dict:
    """{activation: {column: our cell without marks and the paper's part}} of a committed table2.md."""
    import re

    lines = [line for line in Path(path).read_text().splitlines() if line.startswith("| ")]
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    out = {}
    for line in lines[1:]:
        row = [c.strip() for c in line.strip("|").split("|")]
        out[row[0]] = {h: re.sub(r"\*\*[•◦]?|\s*\(.*\)$", "", c).strip() for h, c in zip(header[1:], row[1:])}
    return out


def test_the_readme_mnist_table_is_the_committed_results():
    """Every row of the README's MNIST table, cell for cell, from the committed Table 2 files
    and the paper's Table 2."""
    from pau.repro.analysis.markup import format_accuracy

    readme = (ROOT / "README.md").read_text()
    text = _table_cells(ROOT / "results" / "mnist" / "tables" / "table2.md")
    authors = _table_cells(ROOT / "results" / "mnist_authors" / "tables" / "table2.md")
    paper = pd.read_csv(PAPER / "table2_mnist_fmnist.csv")
    paper = paper[paper["dataset"] == "MNIST"]

    def published(arch, act):
        row = paper[(paper["architecture"] == arch) & (paper["activation"] == act)]
        if not len(row):
            return "not in Table 2"
        return "diverged" if pd.isna(row["mean"].iloc[0]) else format_accuracy(row["mean"].iloc[0], row["std"].iloc[0])

    assert len(text) == 15 and set(text) == set(authors)
    for act, cells in text.items():
        vgg = cells["MNIST VGG-8 mean ± std"].replace("—", "")
        row = (f"| {act} | {cells['MNIST LeNet mean ± std']} | {authors[act]['MNIST LeNet mean ± std']} | "
               f"{published('LeNet', act)} | {vgg} | {published('VGG-8', act) if vgg else ''} |")
        assert row in readme, row


def test_what_the_readme_reads_from_the_mnist_results():
    text, authors = _summary("mnist"), _summary("mnist_authors")
    lenet, lenet_authors, vgg = _means(text, "lenet"), _means(authors, "lenet"), _means(text, "vgg8_mnist")
    # LeNet, paper's text: all 15 within 0.3 points, each 0.2-0.6 below the paper
    assert lenet.max() - lenet.min() <= 0.3 + 1e-9 and (round(lenet.min(), 2), round(lenet.max(), 2)) == (98.64, 98.94)
    paper = pd.read_csv(PAPER / "table2_mnist_fmnist.csv")
    paper = paper[(paper["dataset"] == "MNIST") & (paper["architecture"] == "LeNet")].set_index("activation")["mean"]
    below = (paper - lenet).dropna()
    assert len(below) == 12 and below.between(0.2, 0.6).all()
    # LeNet, authors' script: the five top cells, every unit but Mixture lower, the fixed ones by 1.3-2.9
    assert set(lenet_authors.nlargest(5).index) == {"Mixture", "PAU", "SLAF", "RPAU", "SReLU"}
    lower = lenet - lenet_authors
    assert list(lower[lower <= 0].index) == ["Mixture"]
    fixed = lower[["ReLU", "ReLU6", "LReLU", "RReLU", "ELU", "CELU", "Swish"]]
    assert fixed.between(1.25, 2.9).all()
    assert (round(lenet_authors.min(), 1), round(lenet_authors.max(), 1)) == (93.8, 98.7)
    for seed in (0, 1, 2):  # Maxout's training loss rises under the script
        loss = pd.read_csv(ROOT / "results" / "mnist_authors" / "runs" / "mnist" / "lenet" / "maxout" / f"seed{seed}"
                           / "metrics.csv")["train_loss"]
        assert loss.is_monotonic_increasing and 0.46 < loss.iloc[0] < 0.5 and 1.17 < loss.iloc[-1] < 1.22
    # VGG-8: ReLU and LReLU far above chance; PAU and RPAU ahead of both in each seed
    assert vgg["ReLU"] > 90 and vgg["LReLU"] > 90
    runs = collect.read_runs_table(ROOT / "results" / "mnist" / "runs.csv")
    runs = runs[runs["model"] == "vgg8_mnist"].set_index(["activation", "seed"])["test_acc"]
    for seed in (0, 1):
        assert min(runs[("pau", seed)], runs[("rpau", seed)]) > max(
            runs[("relu", seed)], runs[("lrelu", seed)], runs[("prelu", seed)])
    swish = pd.read_csv(ROOT / "results" / "mnist" / "runs" / "mnist" / "vgg8_mnist" / "swish" / "seed0" / "metrics.csv")
    assert vgg["Swish"] < 13 and swish["train_loss"].iloc[-1] > 2.29  # at chance, the loss barely moved


def test_the_committed_act_lr_table_is_what_pau_tables_computes_and_reads_as_documented(tmp_path):
    folder = ACT_LR
    for extra in ([], ["--metric", "best_epoch"]):
        assert cli.tables_main([str(folder / "runs.csv"), "--out", str(tmp_path / "t"), "--by", "optim.act_lr", *extra]) == 0
    written = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert written == sorted(p.name for p in (folder / "tables").iterdir())
    for name in written:
        assert (tmp_path / "t" / name).read_text() == (folder / "tables" / name).read_text(), name
    sweep = pd.read_csv(folder / "tables" / "sweep_optim.act_lr.csv", keep_default_na=False)
    lenet = sweep[sweep["architecture"] == "LeNet"]["mean"]
    assert lenet.max() - lenet.min() < 0.1
    runs = collect.read_runs_table(folder / "runs.csv")
    vgg = runs[runs["model"] == "vgg8_mnist"]
    for seed in (0, 1):  # VGG-8: a higher PAU lr is better in each seed
        acc = {Path(d).parent.name: a for d, a in zip(vgg[vgg["seed"] == seed]["run_dir"], vgg[vgg["seed"] == seed]["test_acc"])}
        assert acc["optim.act_lr=0.1"] > acc["pau"] > acc["optim.act_lr=0.001"]


def test_the_authors_runbook_quotes_the_committed_epoch_times():
    """experiments/table2_authors.md's cost paragraph: seconds per epoch as the committed
    summary has them (one decimal), and the range around them."""
    import re

    text = " ".join((ROOT / "experiments" / "table2_authors.md").read_text().split())
    summary = pd.read_csv(ROOT / "results" / "mnist_authors" / "tables" / "summary.csv").set_index("activation_key")
    seconds = summary["seconds_per_epoch"]
    for name, key in (("ReLU", "relu"), ("PAU", "pau"), ("RPAU", "rpau"), ("the slowest APL", "apl")):
        assert f"{name} {seconds[key]:.1f} s" in text, name
    assert seconds.idxmax() == "apl"
    low, high = re.search(r"takes (\d+\.\d)–(\d+\.\d) s", text).groups()
    assert (low, high) == (f"{seconds.min():.1f}", f"{seconds.max():.1f}")


def test_the_mnist_runbook_quotes_the_committed_training_times():
    """experiments/mnist_reproduction.md's cost section: the sweeps' training minutes and
    the table of median seconds per epoch, as the committed runs tables and summaries have them."""
    text = (ROOT / "experiments" / "mnist_reproduction.md").read_text()
    flat = " ".join(text.split())
    minutes = {folder: pd.read_csv(ROOT / "results" / folder / "runs.csv").groupby("model")["seconds"].sum() / 60
               for folder in ("mnist", "mnist_authors")}
    assert f"the 45 LeNet runs of `table2_cpu_lenet` {minutes['mnist']['lenet']:.0f} minutes" in flat
    assert f"the 45 of `table2_authors_cpu` {minutes['mnist_authors']['lenet']:.0f} minutes" in flat
    assert f"the 12 VGG-8 runs {minutes['mnist']['vgg8_mnist']:.0f} minutes" in flat
    rows = {"LeNet, paper's text": ("mnist", "lenet"), "LeNet, authors' script": ("mnist_authors", "lenet"),
            "VGG-8 (": ("mnist", "vgg8_mnist")}
    names = {"apl": "APL", "prelu": "PReLU"}
    for label, (folder, model) in rows.items():
        summary = pd.read_csv(ROOT / "results" / folder / "tables" / "summary.csv")
        seconds = summary[summary["model_key"] == model].set_index("activation_key")["seconds_per_epoch"]
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {label}"))
        cells = [c.strip() for c in line.strip("|").split("|")][1:]
        want = [f"{seconds[k]:.1f}" for k in ("relu", "lrelu", "pau", "rpau")]
        want.append(f"{names[seconds.idxmax()]} {seconds.max():.1f}")
        assert cells == want, label
