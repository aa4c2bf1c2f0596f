"""The PAU op: every backend against the reference oracle, gradients, the sign(0)
rule, dtypes, layouts, determinism, errors, torch.library and torch.compile."""
import math

import pytest
import torch

from pau.functional import pau, pau_reference
from pau.math import pau_reference_backward
from pau.kernels import cpu as cpu_kernel
from pau.kernels import triton_pau
from pau.math.forms import denominator_length

from backends import CUDA, run_on_cuda

FORMS = ["A", "B", "C", "N"]
ORDERS = [(5, 4), (3, 2), (7, 6)]
TRITON_BLOCK = 512  # large blocks keep the interpreter fast


def coefficients(m, n, form, groups=1, dtype=torch.float64, zero_odd_b=False):
    shape = (groups,) if groups > 1 else ()
    a = torch.randn(*shape, m + 1, dtype=dtype)
    # Moderate denominators keep form N away from poles on the test inputs.
    b = 0.3 * torch.rand(*shape, denominator_length(n, form), dtype=dtype) + 0.1
    if zero_odd_b:
        b[..., 0::2] = 0.0  # b1 = b3 = 0 as Table 6 starts sigmoid/tanh/swish (C: b0, b2)
    return a, b


def reference_grads(x, a, b, form, g, **kw):
    xs, av, bv = (t.detach().clone().requires_grad_() for t in (x, a, b))
    y = pau_reference(xs, av, bv, form, **kw)
    y.backward(g)
    return y.detach(), xs.grad, av.grad, torch.zeros_like(bv) if bv.grad is None else bv.grad


def run_backend(name, x, a, b, form, g, alpha=0.0, seed=None):
    groups = a.shape[0] if a.dim() == 2 else 1
    if name == "op":
        xs, av, bv = (t.detach().clone().requires_grad_() for t in (x, a, b))
        y = pau(xs, av, bv, form, alpha=alpha, seed=seed)
        y.backward(g)
        return y.detach(), xs.grad, av.grad, bv.grad
    if name == "cuda":
        return run_on_cuda(x, a, b, form, g, alpha=alpha, seed=seed)
    if name == "analytic":  # the paper's gradient formulas (Section 2.2) written out, no autograd
        y = pau_reference(x, a, b, form, alpha=alpha, seed=seed)
        return (y, *pau_reference_backward(g, x, a, b, form, alpha=alpha, seed=seed))
    mod = cpu_kernel if name == "cpu" else triton_pau
    kw = {"block": TRITON_BLOCK} if name == "triton" else {}
    seed_t = None if seed is None else torch.tensor([seed])
    y = mod.forward(x, a, b, form, groups, alpha, seed_t, **kw)
    return (y, *mod.backward(g, x, a, b, form, groups, alpha, seed_t, **kw))


BACKENDS = ["op", "cpu", "triton", "analytic", CUDA]


def assert_close_all(got, want, rtol, atol):
    for name, u, v in zip(("y", "grad_x", "grad_numerator", "grad_denominator"), got, want):
        assert u.shape == v.shape, name
        assert u.dtype == v.dtype, name
        torch.testing.assert_close(u, v, rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("m,n", ORDERS + [(0, 1), (2, 0)])
def test_backend_matches_reference_float64(backend, form, m, n):
    if form == "C" and n == 0:
        n = 1
    a, b = coefficients(m, n, form)
    x = torch.randn(3, 5, 37, dtype=torch.float64) * 1.5  # 555 elements: a partial last block
    g = torch.randn_like(x)
    got = run_backend(backend, x, a, b, form, g)
    assert_close_all(got, reference_grads(x, a, b, form, g), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", FORMS)
def test_groups_and_noise_match_reference(backend, form):
    a, b = coefficients(5, 4, form, groups=3)
    x = torch.randn(2, 6, 4, 5, dtype=torch.float64)
    g = torch.randn_like(x)
    for alpha, seed in ((0.0, None), (0.1, 987654321)):
        got = run_backend(backend, x, a, b, form, g, alpha, seed)
        want = reference_grads(x, a, b, form, g, alpha=alpha, seed=seed)
        assert_close_all(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("size", [1, 7, 255, 256, 257, 16384 + 3, 3 * 16384 + 1000])
def test_cpu_tails_and_segments(size):
    # Sizes around the CPU kernel's vector (16), accumulator flush (256) and segment (16384) boundaries.
    a, b = coefficients(5, 4, "A", dtype=torch.float32)
    x = torch.randn(size)
    g = torch.randn_like(x)
    got = run_backend("cpu", x, a, b, "A", g)
    want = reference_grads(x.double(), a.double(), b.double(), "A", g.double())
    want = tuple(t.float() for t in want)
    assert_close_all(got, want, rtol=1e-4, atol=1e-4 * math.sqrt(size))


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_input(backend):
    a, b = coefficients(5, 4, "B", groups=2)
    x = torch.randn(4, 6, 12, dtype=torch.float64).permute(0, 2, 1)[:, ::2]  # (4, 6, 6), strided
    assert not x.is_contiguous()
    g = torch.randn(4, 6, 6, dtype=torch.float64).transpose(1, 2)
    got = run_backend(backend, x, a, b, "B", g)
    assert_close_all(got, reference_grads(x, a, b, "B", g), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_reduced_precision_inputs(backend, dtype):
    # Half inputs: float32 math inside, output in the input dtype, float32 coefficients.
    a, b = coefficients(5, 4, "A", dtype=torch.float32)
    x = torch.randn(4, 3, 50).to(dtype)
    g = torch.randn_like(x)
    y, gx, ga, gb = run_backend(backend, x, a, b, "A", g)
    yr, gxr, gar, gbr = reference_grads(x, a, b, "A", g)
    assert y.dtype == dtype and gx.dtype == dtype and ga.dtype == torch.float32
    tol = {torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.float32: 1e-5}[dtype]
    torch.testing.assert_close(y.float(), yr.float(), rtol=tol, atol=tol)
    torch.testing.assert_close(gx.float(), gxr.float(), rtol=tol, atol=tol)
    torch.testing.assert_close(ga, gar, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(gb, gbr, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_tensor(backend):
    a, b = coefficients(5, 4, "A")
    x = torch.empty(0, 3, dtype=torch.float64)
    y, gx, ga, gb = run_backend(backend, x, a, b, "A", torch.empty_like(x))
    assert y.shape == (0, 3) and gx.shape == (0, 3)
    assert torch.equal(ga, torch.zeros_like(a)) and torch.equal(gb, torch.zeros_like(b))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", FORMS)
def test_nan_propagates_and_inf_maps_to_the_limit(backend, form):
    a, b = coefficients(5, 4, form)
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.5], dtype=torch.float64)
    y, gx, ga, gb = run_backend(backend, x, a, b, form, torch.ones_like(x))
    assert torch.isnan(y[0]) and torch.isnan(gx[0])
    # m = n + 1: F(x) ~ (a_m / b_n) x (form A: |b_n|, sign(x)^n = 1), so F(+-inf) = +-inf with that sign.
    lead = a[-1] / (b[-1].abs() if form == "A" else b[-1])
    assert y[1].item() == math.copysign(math.inf, lead.item()) and y[2].item() == -y[1].item()
    torch.testing.assert_close(gx[1:3], lead.expand(2), rtol=1e-12, atol=0)
    torch.testing.assert_close(y[3:], pau_reference(x[3:], a, b, form))

# ---------------------------------------------------------------------------
# Gradients: gradcheck and the sign(0) rule


@pytest.mark.parametrize("impl", ["reference", "op"])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("m,n", ORDERS)
def test_gradcheck(impl, form, m, n):
    fn = pau_reference if impl == "reference" else pau
    # Exact zeros in x and in the coefficients (b1 = b3 = 0, as Table 6 starts
    # sigmoid/tanh/swish), where the function is differentiable.
    a, b = coefficients(m, n, form, zero_odd_b=form != "C")
    x = torch.cat([torch.randn(12, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)])
    if form == "A":
        # |b_k| is not differentiable at b_k = 0: that point is the sign(0) rule's test.
        inputs, f = (x, a), (lambda x, a: fn(x, a, b, form))
    else:
        inputs, f = (x, a, b), (lambda x, a, b: fn(x, a, b, form))
    inputs = [t.clone().requires_grad_() for t in inputs]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("impl", ["reference", "op"])
@pytest.mark.parametrize("m,n", ORDERS)
def test_gradcheck_form_a_coefficients(impl, m, n):
    fn = pau_reference if impl == "reference" else pau
    a, b = coefficients(m, n, "A")
    x = torch.randn(16, dtype=torch.float64)
    inputs = [t.clone().requires_grad_() for t in (x, a, b)]
    assert torch.autograd.gradcheck(lambda *t: fn(*t, "A"), inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", ["reference"] + BACKENDS)
def test_sign_zero_rule_form_a(backend):
    """d|z|/dz at z = 0 is +1: it equals the right-sided derivative of |b_k| and |x|.

    A coefficient starting at exactly 0 (Table 6's b1 = b3 = 0) therefore gets a
    non-zero gradient, and every backend gives the same value.
    """
    a = torch.tensor([0.0, 1.0, 0.0, 1 / 9, 0.0, 1 / 945], dtype=torch.float64)  # Table 6 tanh
    b = torch.tensor([0.0, 4 / 9, 0.0, 1 / 63], dtype=torch.float64)
    x = torch.tensor([0.0, 0.7, -1.3, 2.0], dtype=torch.float64)
    g = torch.ones_like(x)
    if backend == "reference":
        _, gx, ga, gb = reference_grads(x, a, b, "A", g)
    else:
        _, gx, ga, gb = run_backend(backend, x, a, b, "A", g)
    h = 1e-7

    def total(xv, bv):
        return pau_reference(xv, a, bv, "A").sum()

    for k in (0, 2):  # b1 and b3 sit at 0
        bp = b.clone()
        bp[k] += h
        right = (total(x, bp) - total(x, b)) / h
        assert abs(gb[k].item()) > 1e-3, "a coefficient at 0 must still receive a gradient"
        assert gb[k].item() == pytest.approx(right.item(), rel=1e-5, abs=1e-6)
    xp = x.clone()
    xp[0] += h
    right_x = (pau_reference(xp, a, b, "A")[0] - pau_reference(x, a, b, "A")[0]) / h
    assert gx[0].item() == pytest.approx(right_x.item(), rel=1e-5, abs=1e-6)
    # Same element-wise numbers in every backend.
    _, gx_ref, ga_ref, gb_ref = reference_grads(x, a, b, "A", g)
    torch.testing.assert_close(gb, gb_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["B", "C"])
def test_sign_zero_rule_inner_polynomial(backend, form):
    # At a point where the inner polynomial s(x) is exactly 0, sign(s) := +1 too.
    a = torch.tensor([0.5, 1.0, 0.25], dtype=torch.float64)
    b = torch.tensor([1.0, -1.0], dtype=torch.float64) if form == "B" else torch.tensor([-1.0, 1.0], dtype=torch.float64)
    x = torch.tensor([1.0], dtype=torch.float64)  # B: x - x^2 = 0; C: -1 + x = 0
    g = torch.ones_like(x)
    got = run_backend(backend, x, a, b, form, g)
    p = 0.5 + 1.0 + 0.25
    q = 1.0 if form == "B" else 0.1
    # dQ/db_k = sign(s) x^k with sign(0) = +1; dF/db_k = -P/Q^2 dQ/db_k
    want_gb = torch.full_like(b, -p / q**2)
    torch.testing.assert_close(got[3], want_gb)
    torch.testing.assert_close(got[3], reference_grads(x, a, b, form, g)[3])


# ---------------------------------------------------------------------------
# Determinism, RPAU noise


@pytest.mark.parametrize("backend", ["cpu", "triton"])
def test_backward_is_bitwise_deterministic(backend):
    a, b = coefficients(5, 4, "A", groups=2, dtype=torch.float32)
    size = (3, 4, 16384 + 77) if backend == "cpu" else (2, 4, 300)
    x = torch.randn(size)
    g = torch.randn_like(x)
    first = run_backend(backend, x, a, b, "A", g, 0.01, 42)
    second = run_backend(backend, x, a, b, "A", g, 0.01, 42)
    for u, v in zip(first, second):
        assert torch.equal(u, v)


@pytest.mark.parametrize("backend", ["reference"] + BACKENDS)
def test_rpau_noise_bounds_and_seeding(backend):
    from pau.math.noise import uniform_noise

    alpha = 0.1
    # With P = a_0 (constant) and Q = 1, the output is the noisy a_0 itself.
    a = torch.tensor([2.0], dtype=torch.float64)
    b = torch.tensor([0.0], dtype=torch.float64)
    x = torch.linspace(-1, 1, 400, dtype=torch.float64)

    def draw(seed):
        if backend == "reference":
            return pau_reference(x, a, b, "N", alpha=alpha, seed=seed)
        return run_backend(backend, x, a, b, "N", torch.ones_like(x), alpha, seed)[0]

    y1, y2, y3 = draw(7), draw(7), draw(8)
    assert torch.equal(y1, y2), "same seed, same noise"
    assert not torch.equal(y1, y3), "another seed, other noise"
    assert (y1 - 2.0).abs().max() <= alpha * 2.0
    assert len(torch.unique(y1)) > 390, "noise differs per element"
    assert (y1 - 2.0).abs().max() > 0.9 * alpha * 2.0, "noise spans the interval"
    z = uniform_noise(7, torch.arange(400), 2)[:, 0].double()
    torch.testing.assert_close(y1, 2.0 + (alpha * z) * 2.0)
    # With a_0 = 1 and alpha = 1 the output is 1 + z exactly: the draws are the same
    # bits in every backend.
    one = torch.ones(1, dtype=torch.float64)
    if backend == "reference":
        y = pau_reference(x.float(), one.float(), b.float(), "N", alpha=1.0, seed=7)
    else:
        y = run_backend(backend, x.float(), one.float(), b.float(), "N", torch.ones_like(x.float()), 1.0, 7)[0]
    assert torch.equal(y - 1.0, z.float())


def test_noise_is_uniform():
    from pau.math.noise import uniform_noise

    z = uniform_noise(3, torch.arange(200_000), 3)
    assert z.min() > -1 and z.max() < 1
    hist = torch.histc(z[:, 1], bins=10, min=-1, max=1)
    assert (hist / hist.sum() - 0.1).abs().max() < 0.005


def test_rpau_module_train_and_eval():
    from pau import PAU, RPAU

    unit = RPAU(alpha=0.05)
    clean = PAU()
    clean.load_state_dict(unit.state_dict())
    x = torch.randn(2, 3, 64)
    unit.eval()
    assert torch.equal(unit(x), clean(x)), "no noise in eval mode"
    unit.train()
    torch.manual_seed(5)
    y1 = unit(x)
    torch.manual_seed(5)
    y2 = unit(x)
    y3 = unit(x)
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert not torch.equal(y1, clean(x))
    y1.sum().backward()
    assert unit.numerator.grad.abs().sum() > 0 and unit.denominator.grad.abs().sum() > 0


# ---------------------------------------------------------------------------
# Errors, torch.library, torch.compile, modules


def test_bad_arguments_raise_value_error():
    x = torch.randn(2, 6, 3)
    a, b = torch.randn(6), torch.rand(4)
    with pytest.raises(ValueError, match="expected one of A, B, C, N"):
        pau(x, a, b, "Z")
    with pytest.raises(ValueError, match="must both be 1-D"):
        pau(x, a.reshape(2, 3), b)
    with pytest.raises(ValueError, match="not divisible"):
        pau(x, torch.randn(4, 6), torch.rand(4, 4))
    with pytest.raises(ValueError, match="groups but denominator has"):
        pau(x, torch.randn(2, 6), torch.rand(3, 4))
    with pytest.raises(ValueError, match="dtype"):
        pau(x, a.double(), b.double())
    with pytest.raises(ValueError, match="at least one coefficient"):
        pau(x, torch.randn(0), b)
    with pytest.raises(ValueError, match="form C needs"):
        pau(x, a, torch.randn(0), "C")
    with pytest.raises(ValueError, match="needs a seed"):
        pau(x, a, b, alpha=0.1)
    with pytest.raises(ValueError, match="floating-point"):
        pau(x.long(), a, b)


@pytest.mark.parametrize("form", FORMS)
def test_opcheck(form):
    a, b = coefficients(5, 4, form)
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.library.opcheck(torch.ops.pau.forward.default, (x, a.requires_grad_(), b.requires_grad_(), form, 0.0, None))
    torch.library.opcheck(
        torch.ops.pau.forward.default, (x.float(), a.float(), b.float(), form, 0.1, torch.tensor([3]))
    )
    torch.library.opcheck(
        torch.ops.pau.backward.default, (torch.randn_like(x), x, a.detach(), b.detach(), form, 0.0, None)
    )


def test_torch_compile_fullgraph_matches_eager():
    from pau import PAU, RPAU

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), PAU(groups=2), torch.nn.Conv2d(8, 4, 3), RPAU(alpha=0.01, form="B"),
        torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3),
    )
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(5, 3, 8, 8)
    model.eval()
    y_eager = model(x)
    y_comp = compiled(x)
    torch.testing.assert_close(y_comp, y_eager, rtol=1e-5, atol=1e-6)
    y_eager.sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled(x).sum().backward()
    for p, gref in zip(model.parameters(), eager_grads):
        torch.testing.assert_close(p.grad, gref, rtol=1e-4, atol=1e-5)
    model.train()  # RPAU's noise path compiles as well
    assert torch.isfinite(compiled(x)).all()


def test_module_repr_state_dict_and_groups():
    from pau import PAU, RPAU

    unit = PAU(m=3, n=2, form="B", init=(torch.ones(4), torch.ones(2)), groups=4)
    assert repr(unit) == "PAU(m=3, n=2, form='B', groups=4)"
    assert unit.numerator.shape == (4, 4) and unit.denominator.shape == (4, 2)
    other = PAU(m=3, n=2, form="B", init=(torch.zeros(4), torch.zeros(2)), groups=4)
    other.load_state_dict(unit.state_dict())
    x = torch.randn(2, 8, 3)
    assert torch.equal(other(x), unit(x))
    assert "alpha=0.1" in repr(RPAU(alpha=0.1))
    with pytest.raises(ValueError, match="not divisible"):
        PAU(groups=3)(torch.randn(2, 8))
    with pytest.raises(ValueError, match="init must be"):
        PAU(init=3)
    with pytest.raises(ValueError, match="needs 6 \\+ 4"):
        PAU(init=(torch.ones(3), torch.ones(4)))


def test_default_init_is_paper_leaky_relu():
    from pau import PAU

    unit = PAU()
    x = torch.linspace(-3, 3, 601)
    y = unit(x).detach()
    assert (y - torch.nn.functional.leaky_relu(x, 0.01)).abs().max() < 0.05


@pytest.mark.slow
def test_64bit_indexing_cpu():
    # More than 2^31 elements: offsets must not wrap (needs ~17 GB of memory).
    n = 2**31 + 1000
    x = torch.empty(n, dtype=torch.float32)
    x[-1000:] = torch.linspace(-2, 2, 1000)
    x[:-1000] = 0.0
    a, b = coefficients(5, 4, "A", dtype=torch.float32)
    y = cpu_kernel.forward(x, a, b, "A", 1)
    torch.testing.assert_close(y[-1000:], pau_reference(x[-1000:], a, b, "A"))


@pytest.mark.parametrize("arch,noise,dtypes", [(90, "0", ["fp32"]), (90, "1", ["fp32", "bf16"]),
                                               (80, "1", ["fp32", "bf16"])])
def test_triton_kernels_compile_for_gpu_without_spills(arch, noise, dtypes):
    """The interpreter skips Triton's compiler: compile every form for Ampere and Hopper
    ahead of time (no GPU needed), so code-generation errors show on any machine, and
    check that the paper's orders (m = 5, n = 4) use no local memory (no spills)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    cmd = [sys.executable, "-m", "pau.kernels.triton_aot", "--arch", str(arch), "--noise", noise, "--dtype", *dtypes]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    rows = [line.split(",") for line in proc.stdout.splitlines()[1:]]
    assert len(rows) == 4 * 2 * len(dtypes), proc.stderr[-3000:]
    for row in rows:
        assert int(row[5]) > 0 and int(row[6]) == 0, f"spills: {row}"
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_falls_back_to_reference_with_one_warning_without_compiler(monkeypatch):
    import warnings

    from pau import ops

    monkeypatch.setattr(cpu_kernel, "_library", None)
    monkeypatch.setattr(cpu_kernel, "_error", None)
    monkeypatch.setattr(cpu_kernel, "_compiler", lambda: None)
    monkeypatch.setattr(ops, "_warned", set())
    a, b = coefficients(5, 4, "A")
    x = torch.randn(10, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = pau(x, a, b)
        y.sum().backward()
        pau(x, a, b)
    messages = [str(w.message) for w in caught if "falling back" in str(w.message)]
    assert len(messages) == 1 and "no C++ compiler" in messages[0]
    torch.testing.assert_close(y, pau_reference(x, a, b))
    want = torch.autograd.grad(pau_reference(x, a, b).sum(), x)[0]
    torch.testing.assert_close(x.grad, want)


def test_kernel_library_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PAU_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cpu_kernel, "_library", None)
    monkeypatch.setattr(cpu_kernel, "_error", None)
    assert cpu_kernel.available()
    built = list(tmp_path.glob("pau_cpu_*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    monkeypatch.setattr(cpu_kernel, "_library", None)
    assert cpu_kernel.available()
    assert built[0].stat().st_mtime_ns == stamp, "second load reuses the cached build"
