"""Ahead-of-time compile of the Triton kernels for GPU targets, no GPU needed.

The interpreter that runs the kernels on the CPU skips Triton's compiler, so code
generation errors and register spills would only show on a GPU. This compiles
every requested specialisation to a cubin with Triton's bundled ptxas and reads
registers and local memory (spills) per kernel with its bundled cuobjdump:

    python -m pau.kernels.triton_aot --arch 80 90 --noise 0 1 --dtype fp32 bf16

prints one CSV row per kernel: arch, kernel, form, noise, dtype, registers,
spill_bytes (local + stack memory). Run it without ``TRITON_INTERPRET``.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from . import triton_pau

PAPER_M1, PAPER_NB = 6, 4  # m = 5, n = 4 (form C: b_0..b_4, five coefficients)
_STORAGE = {"fp32": ("*fp32", tl.float32), "bf16": ("*bf16", tl.float32), "fp16": ("*fp16", tl.float32),
            "fp64": ("*fp64", tl.float64)}


def _signatures(dtype: str):
    ptr, cdt = _STORAGE[dtype]
    coef = "*fp64" if cdt == tl.float64 else "*fp32"
    fwd = {"x_ptr": ptr, "y_ptr": ptr, "a_ptr": coef, "b_ptr": coef, "seed_ptr": "*i64", "alpha_bits": "i64",
           "row_len": "i64"}
    bwd = {"g_ptr": ptr, "x_ptr": ptr, "gx_ptr": ptr, "a_ptr": coef, "b_ptr": coef, "seed_ptr": "*i64",
           "alpha_bits": "i64", "partial_ptr": "*fp64", "row_len": "i64", "blocks_per_row": "i64",
           "tiles_per_group": "i32"}
    return fwd, bwd, cdt


def compile_kernel(kernel: str, form: int, noise: bool, dtype: str, arch: int, m1: int = PAPER_M1,
                   nb: int | None = None, block: int = triton_pau.DEFAULT_BLOCK, num_warps: int = 8):
    """The compiled kernel (``.asm`` holds ptx and cubin) of one specialisation."""
    nb = (PAPER_NB + 1 if form == 2 else PAPER_NB) if nb is None else nb
    fwd_sig, bwd_sig, cdt = _signatures(dtype)
    const = {"G": 2, "M1": m1, "NB": nb, "FORM": form, "NOISE": noise, "CDT": cdt, "BLOCK": block}
    if kernel == "forward":
        fn, sig = triton_pau._pau_forward_kernel, dict(fwd_sig)
    else:
        fn, sig = triton_pau._pau_backward_kernel, dict(bwd_sig)
        const.update(SIGNS_FOLDED=True, KP=triton.next_power_of_2(m1 + nb))
    sig.update({k: "constexpr" for k in const})
    src = ASTSource(fn=fn, signature=sig, constexprs=const)
    return triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": num_warps})


def resource_usage(cubin: bytes) -> tuple[int, int]:
    """(registers, local + stack bytes) of the single kernel in a cubin."""
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as f:
        f.write(cubin)
    try:
        out = subprocess.run([tool, "--dump-resource-usage", f.name], capture_output=True, text=True,
                             check=True).stdout
    finally:
        os.unlink(f.name)
    usage = re.search(r"REG:(\d+) STACK:(\d+) SHARED:\d+ LOCAL:(\d+)", out)
    if usage is None:
        raise RuntimeError(f"no resource usage in cuobjdump output:\n{out}")
    return int(usage.group(1)), int(usage.group(2)) + int(usage.group(3))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", type=int, nargs="+", default=[80, 90])
    ap.add_argument("--noise", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--dtype", nargs="+", default=["fp32", "bf16"], choices=sorted(_STORAGE))
    ap.add_argument("--forms", default="ABCN")
    args = ap.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("unset TRITON_INTERPRET: the interpreter does not compile", file=sys.stderr)
        return 2
    print("arch,kernel,form,noise,dtype,registers,spill_bytes")
    spills = 0
    for arch in args.arch:
        for form in args.forms:
            for noise in args.noise:
                for dtype in args.dtype:
                    for kernel in ("forward", "backward"):
                        compiled = compile_kernel(kernel, "ABCN".index(form), bool(noise), dtype, arch)
                        ptx = compiled.asm["ptx"]
                        if ".entry" not in ptx or "shr.s32" in ptx:
                            raise RuntimeError(f"bad PTX for {kernel} {form}: no entry, or arithmetic shifts in the hash")
                        regs, spill = resource_usage(compiled.asm["cubin"])
                        spills += spill
                        print(f"sm_{arch},{kernel},{form},{noise},{dtype},{regs},{spill}", flush=True)
    return 1 if spills else 0


if __name__ == "__main__":
    sys.exit(main())
