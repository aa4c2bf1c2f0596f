"""The Markdown summary of `make gpu-check` (scripts/gpu_check.sh), from what its steps
wrote into the output folder: device.txt, steps.csv, bench.csv (scripts/bench_kernels.py),
triton_registers.csv (python -m pau.kernels.triton_aot) and train_*.log.

    python scripts/gpu_summary.py results/gpu        # writes results/gpu/summary.md

A step that failed or did not run leaves its file out; the summary says what there is.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

BANDWIDTH_TARGET = 0.85  # of a device copy, forward and forward+backward (the kernels' target)


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _bench_lines(rows: list[dict]) -> list[str]:
    lines = [f"Kernels (scripts/bench_kernels.py; target: >= {BANDWIDTH_TARGET:.0%} of copy bandwidth):", "",
             "| shape | case | ms | vs ReLU | GB/s | of copy |", "|---|---|---|---|---|---|"]
    ratios = []
    for row in rows:
        if not row.get("median_ms"):  # the bf16 / float32 rows carry one ratio only
            ratios.append(f"- {row['shape']}: {row['case']}: {float(row['bf16_vs_float32']):.2f}x")
            continue
        ratio = f"{float(row['vs_relu']):.2f}x" if row.get("vs_relu") else ""
        lines.append(f"| {row['shape']} | {row['case']} | {float(row['median_ms']):.3f} | {ratio} | "
                     f"{float(row['gb_per_s']):.0f} | {float(row['fraction_of_copy']):.0%} |")
    return lines + ([""] + ratios if ratios else [])


def _register_lines(rows: list[dict]) -> list[str]:
    if not rows:
        return ["Triton specialisations compiled: none"]
    spilling = [r for r in rows if r["spill_bytes"] != "0"]
    registers = [int(r["registers"]) for r in rows]
    return [f"Triton specialisations compiled: {len(rows)}; with spills: {len(spilling)}; "
            f"registers {min(registers)}-{max(registers)}"]


def summary(out: Path) -> str:
    lines = ["# GPU check", ""]
    if (out / "device.txt").exists():
        lines += ["```", (out / "device.txt").read_text().strip(), "```", ""]
    if (out / "steps.csv").exists():
        lines += ["| step | exit code | seconds |", "|---|---|---|"]
        lines += [f"| {r['step']} | {r['exit_code']} | {r['seconds']} |" for r in _rows(out / "steps.csv")]
        lines.append("")
    if (out / "bench.csv").exists():
        lines += _bench_lines(_rows(out / "bench.csv")) + [""]
    if (out / "triton_registers.csv").exists():
        lines += _register_lines(_rows(out / "triton_registers.csv")) + [""]
    for log in sorted(out.glob("train_*.log")):
        tail = [line for line in log.read_text().splitlines() if line.strip()][-3:]
        lines += [f"{log.stem}:", "```", *tail, "```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python scripts/gpu_summary.py OUT_DIR (the folder scripts/gpu_check.sh wrote)",
              file=sys.stderr)
        return 2
    out = Path(args[0])
    text = summary(out)
    (out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
