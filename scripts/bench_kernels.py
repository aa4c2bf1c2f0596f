"""Benchmark the PAU op against ReLU, a copy, the naive autograd composition and
torch.compile, all measured in one run; prints times and ratios.

    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736 \
        python scripts/bench_kernels.py                  # CPU, 2 threads
    python scripts/bench_kernels.py --device cuda        # GPU: also bandwidth vs a device copy

Compare ratios, not absolute times: they are measured back to back in one process.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import pau
from pau.functional import pau as pau_op
from pau.functional import pau_reference


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shape", default="256,16,32,32")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=50, help="rounds; every case runs once per round")
    ap.add_argument("--form", default="A")
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="cpu: process CPU time, steadier than wall time on a busy CPU machine")
    ap.add_argument("--skip-compile", action="store_true", help="skip the torch.compile baseline")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    shape = tuple(int(s) for s in args.shape.split(","))
    x = torch.randn(shape, device=device, dtype=dtype)
    g = torch.randn_like(x)
    unit = pau.PAU(form=args.form).to(device)
    a, b = unit.numerator, unit.denominator
    xr = x.clone().requires_grad_()

    def fwd_bwd(f):
        def run():
            xr.grad = None
            a.grad = b.grad = None
            f(xr).backward(g)
        return run

    cases = {}
    cases["copy"] = lambda: x.clone()
    cases["relu fwd"] = lambda: torch.relu(x)
    cases["relu fwd+bwd"] = fwd_bwd(torch.relu)
    naive = lambda t: pau_reference(t, a, b, args.form)  # noqa: E731
    cases["pau naive fwd"] = lambda: naive(x)
    cases["pau naive fwd+bwd"] = fwd_bwd(naive)
    if not args.skip_compile:
        compiled = torch.compile(naive)
        cases["pau torch.compile fwd"] = lambda: compiled(x)
        cases["pau torch.compile fwd+bwd"] = fwd_bwd(compiled)
    op = lambda t: pau_op(t, a, b, args.form)  # noqa: E731
    cases["pau op fwd"] = lambda: op(x)
    cases["pau op fwd+bwd"] = fwd_bwd(op)

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    times = measure(cases, device, args.repeat, clock=clock)
    results = {name: statistics.median(t) for name, t in times.items()}

    numel, itemsize = x.numel(), x.element_size()
    print(f"shape {shape} {args.dtype} on {device} ({torch.get_num_threads()} threads), form {args.form}, "
          f"{args.clock} clock")
    print(f"{'case':28s} {'median [ms]':>11s} {'vs relu':>8s}   (ratio: median over rounds of same-round ratios)")
    for name, t in results.items():
        base = "relu fwd+bwd" if "bwd" in name else "relu fwd"
        ratio = "" if name == "copy" else f"{median_ratio(times, name, base):8.2f}x"
        print(f"{name:28s} {t * 1e3:11.3f} {ratio}")
    if device.type == "cuda":
        copy_bw = 2 * numel * itemsize / results["copy"]
        fwd_bw = 2 * numel * itemsize / results["pau op fwd"]
        # forward (read x, write y) + backward (read x and grad, write grad_x)
        fb_bw = 5 * numel * itemsize / results["pau op fwd+bwd"]
        print(f"device copy bandwidth {copy_bw / 1e9:.1f} GB/s")
        print(f"pau op fwd      {fwd_bw / 1e9:.1f} GB/s = {fwd_bw / copy_bw:.0%} of copy")
        print(f"pau op fwd+bwd  {fb_bw / 1e9:.1f} GB/s = {fb_bw / copy_bw:.0%} of copy")
    return results


if __name__ == "__main__":
    main()
