"""The CPU kernel reads and writes bfloat16 and float16 itself: the same float32
arithmetic as on float32 input, rounded to nearest even on the way out; without a
working compiler the op falls back to the reference."""
import os
import subprocess
import sys

import pytest
import torch

from pau.kernels import cpu as cpu_kernel
from pau.math.forms import denominator_length


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("form", ["A", "B", "C", "N"])
@pytest.mark.parametrize("noise", [False, True])
def test_half_storage_equals_float32_kernel_rounded(dtype, form, noise):
    groups = 2
    a = torch.randn(groups, 6)
    b = 0.3 * torch.rand(groups, denominator_length(4, form)) + 0.1
    x = (torch.randn(3, 4, 37) * 3).to(dtype)  # 37: a partial last vector in every row
    x[0, 0, :4] = torch.tensor([float("nan"), float("inf"), -float("inf"), 300.0])
    g = torch.randn_like(x)
    alpha, seed = (0.1, torch.tensor([11])) if noise else (0.0, None)
    y = cpu_kernel.forward(x, a, b, form, groups, alpha, seed)
    y32 = cpu_kernel.forward(x.float(), a, b, form, groups, alpha, seed)
    assert y.dtype == dtype
    assert torch.equal(y.float().nan_to_num(7.0), y32.to(dtype).float().nan_to_num(7.0))
    keep = torch.ones_like(x, dtype=torch.bool)
    keep[0, 0, :3] = False  # NaN and inf make every coefficient sum non-finite
    gk = torch.where(keep, g, torch.zeros_like(g))
    xk = torch.where(keep, x, torch.zeros_like(x))
    gx, ga, gb = cpu_kernel.backward(gk, xk, a, b, form, groups, alpha, seed)
    gx32, ga32, gb32 = cpu_kernel.backward(gk.float(), xk.float(), a, b, form, groups, alpha, seed)
    assert gx.dtype == dtype and ga.dtype == torch.float32
    assert torch.equal(gx, gx32.to(dtype))
    assert torch.equal(ga, ga32) and torch.equal(gb, gb32)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_rounding_matches_torch_at_ties_and_nan(dtype):
    # With P = a_0 + x (a_1 = 1) and Q = 1 the output is the float32 value a_0 + x, rounded once.
    a = torch.tensor([2.0**-9 + 2.0**-17, 1.0])
    b = torch.zeros(0)  # n = 0
    x = torch.tensor([1.0, -1.0, 0.0, float("nan"), 1e-3, 65504.0, -3e38]).repeat(5).to(dtype)
    y = cpu_kernel.forward(x, a, b, "N", 1)
    want = (x.float() + a[0]).to(dtype)
    assert torch.equal(y.float().nan_to_num(7.0), want.float().nan_to_num(7.0))
    assert torch.isnan(y[3])


def test_a_compiler_that_fails_leaves_the_reference_with_one_warning(tmp_path):
    # A fresh cache and a "compiler" that fails: the op still answers (the reference),
    # warns once with the reason, and the library stays unavailable.
    code = (
        "import warnings, torch\n"
        "from pau.kernels import cpu\n"
        "from pau.functional import pau, pau_reference\n"
        "x = torch.randn(50); a = torch.randn(6); b = torch.rand(4)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    y = pau(x, a, b); pau(x, a, b)\n"
        "messages = [str(w.message) for w in caught if 'CPU kernel' in str(w.message)]\n"
        "print(len(messages), cpu.available())\n"
        "print(messages[0])\n"
        "print(torch.allclose(y, pau_reference(x, a, b)))\n"
    )
    env = {**os.environ, "CXX": "false", "PAU_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-W", "error::ResourceWarning", "-c", code], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr[-2000:]
    count, message, close = proc.stdout.strip().splitlines()
    assert count == "1 False" and close == "True"
    assert "could not be built (compiling pau_cpu.cpp with " in message
    assert "failed (exit 1); set CXX to a working C++17 compiler)" in message
    assert not list(tmp_path.glob("*.so"))
