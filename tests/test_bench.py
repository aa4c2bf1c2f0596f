"""scripts/bench_kernels.py: what it measures and writes, and the README's speed table
is the committed measurement (results/bench/cpu.csv); scripts/gpu_check.sh and its
summary (scripts/gpu_summary.py) as far as a machine without a GPU can run them.
Timings themselves are never asserted: speed is read from the benchmark's ratios."""
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from script_loading import loaded_script

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "bench" / "cpu.csv"
SHAPES = ("256x16x32x32", "64x64x56x56")


@pytest.fixture(scope="module")
def bench():
    with loaded_script("bench_kernels") as module:
        yield module


def test_median_ratio_is_the_median_of_same_round_ratios(bench):
    times = {"op": [2.0, 9.0, 3.0], "relu": [1.0, 3.0, 1.0]}  # per round: 2, 3, 3
    assert bench.median_ratio(times, "op", "relu") == 3.0


def test_measure_interleaves_the_cases_round_by_round(bench):
    calls = []
    cases = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = bench.measure(cases, bench.torch.device("cpu"), rounds=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}


def test_one_run_writes_every_row_of_the_speed_table_for_every_shape(bench, tmp_path):
    out = tmp_path / "sub" / "bench.csv"
    bench.main(["--shapes", "2,8,4,4;3,16,2,2", "--repeat", "2", "--threads", "1", "--csv", str(out)])
    rows = list(csv.DictReader(out.open()))
    for shape in ("2x8x4x4", "3x16x2x2"):
        cases = {r["case"]: r for r in rows if r["shape"] == shape}
        for kind in ("fwd", "fwd+bwd"):
            for name in ("gelu", "silu", "pau op float32", "pau op groups=8", "rpau op alpha=0.01", "pau op bf16"):
                assert float(cases[f"{name} {kind}"]["vs_relu"]) > 0, (shape, name, kind)
            assert float(cases[f"pau op bf16 / float32 {kind}"]["bf16_vs_float32"]) > 0
        for name in ("pau op float32", "rpau op alpha=0.01"):  # the kernel built without prefetching
            assert float(cases[f"{name} fwd+bwd no prefetch"]["vs_relu"]) > 0
        assert {r["threads"] for r in cases.values()} == {"1"}


def _committed() -> dict:
    rows = list(csv.DictReader(COMMITTED.open()))
    return {(r["shape"], r["case"]): r for r in rows}


def _readme_speed_table() -> dict:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Speed"):]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ")]
    header, body = lines[0], lines[1:]
    assert "fwd+bwd" in header
    table = {}
    for line in body:
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if not cells[0] or not re.search(r"\d×", line):
            break
        table[cells[0]] = [re.findall(r"(\d+\.\d+)×", c) for c in cells[1:]]
    return table


# README row -> the benchmark's case names (one per value in the cell).
README_ROWS = {
    "GELU / SiLU (torch, for reference)": ("gelu", "silu"),
    "PAU op, float32": ("pau op float32",),
    "PAU op, float32, groups=8": ("pau op groups=8",),
    "RPAU op (α = 0.01)": ("rpau op alpha=0.01",),
    "PAU op on bfloat16, vs ReLU on bfloat16": ("pau op bf16",),
    "PAU op, float32, without software prefetching": ("pau op float32", "no prefetch"),
    "RPAU op, without software prefetching": ("rpau op alpha=0.01", "no prefetch"),
}


def test_the_readme_speed_table_is_the_committed_benchmark():
    committed, table = _committed(), _readme_speed_table()
    assert set(table) == set(README_ROWS) | {"PAU op on bfloat16, vs the float32 op"}
    columns = [(shape, kind) for shape in SHAPES for kind in ("fwd", "fwd+bwd")]
    for row, values in table.items():
        for (shape, kind), cell in zip(columns, values):
            if README_ROWS.get(row, ())[-1:] == ("no prefetch",):  # measured forward+backward only
                case = README_ROWS[row][0]
                want = [float(committed[(shape, f"{case} {kind} no prefetch")]["vs_relu"])] if kind != "fwd" else []
            elif row in README_ROWS:
                want = [float(committed[(shape, f"{case} {kind}")]["vs_relu"]) for case in README_ROWS[row]]
            else:
                want = [float(committed[(shape, f"pau op bf16 / float32 {kind}")]["bf16_vs_float32"])]
            assert [float(v) for v in cell] == [round(w, 2) for w in want], (row, shape, kind)
    assert {r["threads"] for r in committed.values()} == {"2"}


def test_the_committed_benchmark_meets_the_cpu_targets_the_readme_states():
    """The README states these targets as met by its table: float32 forward+backward
    within 1.30x / 1.25x ReLU, RPAU within 2.5x, bfloat16 no slower than float32."""
    committed = _committed()
    ratio = lambda shape, case: float(committed[(shape, case)]["vs_relu"])  # noqa: E731
    assert ratio(SHAPES[0], "pau op float32 fwd+bwd") <= 1.30
    assert ratio(SHAPES[1], "pau op float32 fwd+bwd") <= 1.25
    for shape in SHAPES:
        assert ratio(shape, "rpau op alpha=0.01 fwd+bwd") <= 2.5
        assert float(committed[(shape, "pau op bf16 / float32 fwd+bwd")]["bf16_vs_float32"]) <= 1.0


@pytest.fixture
def gpu_summary():
    with loaded_script("gpu_summary") as module:
        yield module


def test_the_gpu_check_summary_reads_every_step_output(bench, gpu_summary, tmp_path):
    # What scripts/gpu_check.sh leaves in its folder, with a real bench.csv (ratio-only rows included).
    bench.main(["--shapes", "2,8,4,4", "--repeat", "1", "--threads", "1", "--csv", str(tmp_path / "bench.csv")])
    (tmp_path / "device.txt").write_text("torch 2.x triton 3.x cuda 12\ncuda:0 Some GPU sm_90 132 SMs 80 GiB\n")
    (tmp_path / "steps.csv").write_text("step,exit_code,seconds\ngpu_tests,0,61\nbench,0,90\ntrain_gpu,1,12\n")
    (tmp_path / "triton_registers.csv").write_text(
        "arch,kernel,form,noise,dtype,registers,spill_bytes\n"
        "80,forward,A,0,fp32,40,0\n90,backward,A,1,bf16,122,16\n")
    (tmp_path / "train_gpu.log").write_text("epoch 0\n\nepoch 1\nTrainer.fit stopped\n")
    assert gpu_summary.main([str(tmp_path)]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "cuda:0 Some GPU sm_90" in text and "| train_gpu | 1 | 12 |" in text
    rows = [r for r in csv.DictReader((tmp_path / "bench.csv").open()) if r["median_ms"]]
    for row in rows:
        assert f"| {row['shape']} | {row['case']} | {float(row['median_ms']):.3f} |" in text
    assert "pau op bf16 / float32 fwd+bwd:" in text
    assert "compiled: 2; with spills: 1; registers 40-122" in text
    assert "Trainer.fit stopped" in text


def test_the_gpu_check_summary_names_its_argument(gpu_summary, capsys):
    assert gpu_summary.main(["/no/such/folder"]) == 2
    assert "usage: python scripts/gpu_summary.py OUT_DIR" in capsys.readouterr().err


def test_gpu_check_without_a_gpu_says_so_in_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: make gpu-check runs for real")
    env = {**os.environ, "GPU_CHECK_OUT": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines()[-1] == "no CUDA device visible: nothing to check"
    assert (tmp_path / "summary.md").read_text().strip() == "no CUDA device visible: nothing to check"


def test_the_readme_reads_its_speed_figures_from_the_committed_benchmark():
    committed = _committed()
    ratio = lambda shape, case: f'{float(committed[(shape, case)]["vs_relu"]):.2f}×'  # noqa: E731
    text = " ".join((ROOT / "README.md").read_text().split())
    fp32 = [ratio(s, "pau op float32 fwd+bwd") for s in SHAPES]
    rpau = [ratio(s, "rpau op alpha=0.01 fwd+bwd") for s in SHAPES]
    gelu = [ratio(s, "gelu fwd+bwd") for s in SHAPES]
    assert f"float32 op costs {fp32[0]} / {fp32[1]} ReLU, less than GELU in the same run" in text
    assert all(float(f[:-1]) < float(g[:-1]) for f, g in zip(fp32, gelu))
    assert f"and RPAU {rpau[0]} / {rpau[1]}." in text
    bf16 = [f'{float(committed[(s, "pau op bf16 / float32 fwd+bwd")]["bf16_vs_float32"]):.2f}×' for s in SHAPES]
    assert f"costs what float32 does ({bf16[0]} / {bf16[1]})" in text
