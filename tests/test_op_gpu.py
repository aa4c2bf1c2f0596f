"""The op on CUDA with compiled Triton kernels (``make gpu-check`` runs these with
TRITON_INTERPRET=0). Skipped on machines without a GPU, where the same kernels are
tested under the interpreter in test_op.py and test_op_edges.py."""
import math
import os

import pytest
import torch

from pau.functional import pau, pau_reference
from pau.kernels import triton_pau
from pau.math import pau_reference_backward
from pau.math.forms import denominator_length
from pau.math.noise import uniform_noise

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1",
                       reason="run with TRITON_INTERPRET=0 to test the compiled kernels"),
]

FORMS = ["A", "B", "C", "N"]
DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.float64]
TOL = {torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.float16: 2e-3, torch.float64: 1e-10}


def _coefficients(m, n, form, groups, dtype):
    shape = (groups,) if groups > 1 else ()
    a = torch.randn(*shape, m + 1, dtype=dtype)
    b = 0.3 * torch.rand(*shape, denominator_length(n, form), dtype=dtype) + 0.1
    return a, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("groups", [1, 4])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_cuda_op_matches_the_cpu_reference(dtype, form, groups, alpha):
    coef_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    a, b = _coefficients(5, 4, form, groups, coef_dtype)
    x = (torch.randn(3, 8, 33, 17, dtype=torch.float64) * 2).to(dtype)
    x[0, 0, 0, :3] = torch.tensor([7.0, -50.0, 1e3]).to(dtype)  # the 1/x range
    g = torch.randn_like(x)
    seed = 1234 if alpha else None
    xc, ac, bc = (t.cuda().requires_grad_() for t in (x, a, b))
    y = pau(xc, ac, bc, form, alpha=alpha, seed=seed)
    y.backward(g.cuda())
    want_y = pau_reference(x.double(), a.double(), b.double(), form, alpha=alpha, seed=seed)
    want = pau_reference_backward(g.double(), x.double(), a.double(), b.double(), form, alpha=alpha, seed=seed)
    tol = TOL[dtype]
    assert y.dtype == dtype and xc.grad.dtype == dtype and ac.grad.dtype == coef_dtype
    torch.testing.assert_close(y.double().cpu(), want_y, rtol=tol, atol=tol)
    torch.testing.assert_close(xc.grad.double().cpu(), want[0], rtol=tol, atol=tol)
    coef_tol = 1e-9 if dtype == torch.float64 else 1e-3
    scale = x.numel() ** 0.5
    torch.testing.assert_close(ac.grad.double().cpu(), want[1], rtol=coef_tol, atol=coef_tol * scale)
    torch.testing.assert_close(bc.grad.double().cpu(), want[2], rtol=coef_tol, atol=coef_tol * scale)


@pytest.mark.parametrize("size", [1, 1023, 1024, 1025, 3 * 2**20 + 17])
def test_cuda_sizes_and_bitwise_deterministic_backward(size):
    a, b = _coefficients(5, 4, "A", 1, torch.float32)
    a, b = a.cuda(), b.cuda()
    x = torch.randn(size, device="cuda")
    g = torch.randn_like(x)
    first = triton_pau.backward(g, x, a, b, "A", 1, 0.01, torch.tensor([3], device="cuda"))
    second = triton_pau.backward(g, x, a, b, "A", 1, 0.01, torch.tensor([3], device="cuda"))
    for u, v in zip(first, second):
        assert torch.equal(u, v)
    want = pau_reference_backward(g.cpu().double(), x.cpu().double(), a.cpu().double(), b.cpu().double(), "A",
                                  alpha=0.01, seed=3)
    torch.testing.assert_close(first[0].cpu().double(), want[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(first[1].cpu().double(), want[1], rtol=1e-4, atol=1e-4 * math.sqrt(size))


def test_cuda_draws_are_the_reference_bits():
    x = torch.ones(5000, device="cuda")
    b = torch.zeros(1, device="cuda")
    z = uniform_noise(2**40 + 9, torch.arange(5000), 6)
    for j in range(6):
        a = torch.zeros(6, device="cuda")
        a[j] = 1.0
        y = triton_pau.forward(x, a, b, "N", 1, 1.0, torch.tensor([2**40 + 9], device="cuda"))
        assert torch.equal((y - 1.0).cpu(), z[:, j])


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("m,n", [(3, 4), (4, 4), (5, 4)])
def test_cuda_far_range_and_limits(form, m, n):
    # Each element alone (the coefficient gradients of +inf and -inf may be opposite
    # infinities): value and every gradient against the float64 reference rounded to
    # float32 (inf where the exact value exceeds it), +-inf against +-2^400; coefficient
    # gradients within 1e-5 of the largest one.
    a, b = _coefficients(m, n, form, 1, torch.float32)
    for v in (1e4, -1e8, 1e30, 3e38, -3e38, math.inf, -math.inf):
        x = torch.tensor([v])
        xc, ac, bc = (t.cuda().requires_grad_() for t in (x, a, b))
        y = pau(xc, ac, bc, form)
        y.backward(torch.full_like(y, 0.5))
        at = torch.tensor([math.copysign(2.0**400, v) if math.isinf(v) else v], dtype=torch.float64)
        want = (pau_reference(at, a.double(), b.double(), form),
                *pau_reference_backward(torch.full_like(at, 0.5), at, a.double(), b.double(), form))
        for name, got, w in zip(("y", "grad_x", "grad_numerator", "grad_denominator"),
                                (y.detach(), xc.grad, ac.grad, bc.grad), want):
            scale = w[w.isfinite()].abs().max().item() if w.isfinite().any() else 0.0  # as test_op_edges
            torch.testing.assert_close(got.cpu(), w.float(), rtol=1e-5, atol=1e-5 * scale + 1e-30,
                                       msg=lambda m, name=name, v=v: f"{name} at {v}: {m}")
    y = pau(torch.tensor([math.nan]).cuda(), a.cuda(), b.cuda(), form)
    assert torch.isnan(y).all()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_second_device():
    a, b = _coefficients(5, 4, "A", 1, torch.float32)
    x = torch.randn(4096)
    with torch.cuda.device(0):
        y = pau(x.to("cuda:1"), a.to("cuda:1"), b.to("cuda:1"))
    assert y.device == torch.device("cuda:1")
    torch.testing.assert_close(y.cpu(), pau_reference(x, a, b), rtol=1e-5, atol=1e-5)


def test_cuda_graph_capture_of_forward_and_backward():
    unit = __import__("pau").RPAU(alpha=0.01).cuda()
    x = torch.randn(64, 1000, device="cuda", requires_grad=True)
    seed = torch.tensor([5], device="cuda")

    def step():
        y = pau(x, unit.numerator, unit.denominator, "A", alpha=0.01, seed=seed)
        (gx,) = torch.autograd.grad(y.sum(), x)
        return y, gx

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm up: compile and tune outside the capture
            eager = step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = step()
    graph.replay()
    torch.cuda.synchronize()
    for u, v in zip(captured, eager):
        assert torch.equal(u, v)


def test_cuda_torch_compile_fullgraph():
    from pau import PAU

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), PAU(groups=2), torch.nn.Flatten()).cuda()
    x = torch.randn(4, 3, 10, 10, device="cuda")
    torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), model(x), rtol=1e-5, atol=1e-5)
