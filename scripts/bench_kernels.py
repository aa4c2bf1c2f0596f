"""Benchmark the PAU op against ReLU (and GELU, SiLU, a copy, optionally the naive
autograd composition and torch.compile of the reference), all measured in one run;
prints times and the median of same-round ratios to ReLU of the same dtype.

    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736 \
        python scripts/bench_kernels.py                  # CPU, 2 threads, both shapes
    python scripts/bench_kernels.py --device cuda --shapes 64,64,112,112 --csv out.csv
                                                          # GPU: bandwidth vs a device copy

Rows per shape: the op in float32 (one coefficient set, and groups=8), RPAU
(alpha = 0.01, training-mode noise), the op on bfloat16 input against ReLU on
bfloat16, and GELU/SiLU for reference; on the CPU also forward+backward of the
float32 op and of RPAU on the kernel built without software prefetching. Every
case runs once per round, rounds interleaved, so drifts of a shared machine hit
all cases alike. Compare ratios, not absolute times.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch

import pau
from pau.functional import pau_reference
from pau.kernels import cpu as cpu_kernel


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(cases: dict, device, rounds: int, warmup: int = 3, clock=time.perf_counter) -> dict:
    """Time every case once per round, interleaved, so slow drifts of the machine hit
    all cases alike; returns each case's list of per-round times in seconds."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            t0 = clock()
            fn()
            _sync(device)
            times[name].append(clock() - t0)
    return times


def median_ratio(times: dict, name: str, base: str) -> float:
    """Median over rounds of time(name) / time(base) measured in the same round."""
    return statistics.median(t / b for t, b in zip(times[name], times[base]))


def _without_prefetch(case):
    """The case (forward and backward) on the CPU kernel built without software prefetching."""
    def run():
        with cpu_kernel.variant(PAU_PREFETCH_BYTES=0):
            case()
    return run


def build_cases(shape, device, form: str, baselines: bool, compiled: bool) -> tuple[dict, dict, dict]:
    """(cases, baseline of each case, bytes moved by each case)."""
    x32 = torch.randn(shape, device=device)
    g32 = torch.randn_like(x32)
    tensors = {torch.float32: (x32, g32), torch.bfloat16: (x32.bfloat16(), g32.bfloat16())}
    plain = pau.PAU(form=form).to(device)
    grouped = pau.PAU(form=form, groups=8).to(device)
    noisy = pau.RPAU(alpha=0.01, form=form).to(device).train()
    cases, base, traffic = {}, {}, {}

    def add(name, fn, dtype, kind, baseline):
        x, g = tensors[dtype]
        xr = x.clone().requires_grad_()
        params = [p for m in (plain, grouped, noisy) for p in m.parameters()]
        if kind == "fwd":
            cases[name] = lambda: fn(x)
            traffic[name] = 2 * x.numel() * x.element_size()  # read x, write y
        else:
            def run():
                xr.grad = None
                for p in params:
                    p.grad = None
                fn(xr).backward(g)
            cases[name] = run
            # forward (read x, write y) + backward (read x and grad_out, write grad_x)
            traffic[name] = 5 * x.numel() * x.element_size()
        base[name] = baseline

    for dtype, tag in ((torch.float32, ""), (torch.bfloat16, " bf16")):
        x = tensors[dtype][0]
        cases[f"copy{tag}"] = (lambda x=x: x.clone())
        base[f"copy{tag}"], traffic[f"copy{tag}"] = None, 2 * x.numel() * x.element_size()
        for kind in ("fwd", "fwd+bwd"):
            add(f"relu{tag} {kind}", torch.relu, dtype, kind, None)
    for kind in ("fwd", "fwd+bwd"):
        relu = f"relu {kind}"
        add(f"gelu {kind}", torch.nn.functional.gelu, torch.float32, kind, relu)
        add(f"silu {kind}", torch.nn.functional.silu, torch.float32, kind, relu)
        add(f"pau op float32 {kind}", plain, torch.float32, kind, relu)
        add(f"pau op groups=8 {kind}", grouped, torch.float32, kind, relu)
        add(f"rpau op alpha=0.01 {kind}", noisy, torch.float32, kind, relu)
        add(f"pau op bf16 {kind}", plain, torch.bfloat16, kind, f"relu bf16 {kind}")
        if device.type == "cpu" and kind == "fwd+bwd":
            # The same kernel without software prefetching (PAU_PREFETCH_BYTES=0).
            for name, unit in (("pau op float32", plain), ("rpau op alpha=0.01", noisy)):
                case = f"{name} {kind} no prefetch"
                add(case, unit, torch.float32, kind, relu)
                cases[case] = _without_prefetch(cases[case])
        if baselines:
            a, b = plain.numerator, plain.denominator
            naive = lambda t: pau_reference(t, a, b, form)  # noqa: E731
            add(f"pau naive autograd {kind}", naive, torch.float32, kind, relu)
            if compiled:
                add(f"pau torch.compile(reference) {kind}", torch.compile(naive), torch.float32, kind, relu)
    return cases, base, traffic


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shapes", default="256,16,32,32;64,64,56,56", help="';'-separated shapes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30, help="rounds; every case runs once per round")
    ap.add_argument("--form", default="A")
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="cpu: process CPU time, steadier than wall time on a busy CPU machine")
    ap.add_argument("--baselines", action="store_true",
                    help="also the naive autograd composition and torch.compile of the reference")
    ap.add_argument("--skip-compile", action="store_true", help="with --baselines: skip torch.compile")
    ap.add_argument("--csv", help="write every row to this CSV file")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rows = []
    for spec in args.shapes.split(";"):
        shape = tuple(int(s) for s in spec.split(","))
        cases, base, traffic = build_cases(shape, device, args.form, args.baselines, not args.skip_compile)
        times = measure(cases, device, args.repeat, clock=clock)
        copy_s = {tag: statistics.median(times[f"copy{tag}"]) for tag in ("", " bf16")}
        print(f"\nshape {shape} on {device} ({torch.get_num_threads()} threads), form {args.form}, "
              f"{args.clock} clock, {args.repeat} rounds")
        print(f"{'case':38s} {'median [ms]':>11s} {'vs relu':>8s} {'GB/s':>8s} {'of copy':>8s}")
        for name, t in times.items():
            med = statistics.median(t)
            ratio = median_ratio(times, name, base[name]) if base[name] else None
            bandwidth = traffic[name] / med
            copy_bw = traffic[f"copy{' bf16' if 'bf16' in name else ''}"] / copy_s[" bf16" if "bf16" in name else ""]
            row = {"shape": "x".join(map(str, shape)), "threads": torch.get_num_threads(), "case": name,
                   "median_ms": med * 1e3,
                   "vs_relu": ratio, "gb_per_s": bandwidth / 1e9, "fraction_of_copy": bandwidth / copy_bw}
            rows.append(row)
            ratio_s = f"{ratio:7.2f}x" if ratio else " " * 8
            print(f"{name:38s} {med * 1e3:11.3f} {ratio_s} {bandwidth / 1e9:8.1f} {bandwidth / copy_bw:8.0%}")
        for kind in ("fwd", "fwd+bwd"):
            # The bf16 target: no slower than the float32 op on the same shape.
            ratio = median_ratio(times, f"pau op bf16 {kind}", f"pau op float32 {kind}")
            rows.append({"shape": "x".join(map(str, shape)), "threads": torch.get_num_threads(),
                         "case": f"pau op bf16 / float32 {kind}",
                         "median_ms": None, "vs_relu": None, "gb_per_s": None, "fraction_of_copy": None,
                         "bf16_vs_float32": ratio})
            print(f"pau op bf16 {kind} vs pau op float32 {kind}: {ratio:.2f}x")
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) + ["bf16_vs_float32"])
            writer.writeheader()
            writer.writerows(rows)
    return rows


if __name__ == "__main__":
    main()
