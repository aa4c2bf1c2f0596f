"""The op at its edges: the far range |x| >> 1 against exact rational arithmetic,
RPAU noise independence, validation inside the registered ops, fake strides and
layouts under opcheck, second derivatives and torch.func."""
import math
from fractions import Fraction

import pytest
import torch

from pau.functional import pau, pau_reference
from pau.kernels import cpu as cpu_kernel
from pau.kernels import triton_pau
from pau.math import pau_reference_backward
from pau.math.forms import denominator_length
from pau.math.noise import uniform_noise

from backends import CUDA, run_on_cuda

FORMS = ["A", "B", "C", "N"]
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def _coefficients(m, n, form, dtype=torch.float32, groups=1):
    shape = (groups,) if groups > 1 else ()
    a = torch.randn(*shape, m + 1, dtype=dtype)
    b = (0.3 * torch.rand(*shape, denominator_length(n, form), dtype=dtype) + 0.1)
    b = b * torch.where(torch.rand_like(b) < 0.3, -1.0, 1.0).to(dtype)  # some negative b_k
    if form == "N":
        b = b.abs()  # no poles on the real line
    return a, b


def _sgn(v):
    return 1 if v >= 0 else -1


def _exact(form, a, b, x):
    """Exact (F, dF/dx, [dF/da_j], [dF/db_k]) in rational arithmetic, sign(0) := +1."""
    P = sum(aj * x**j for j, aj in enumerate(a))
    dP = sum(j * aj * x ** (j - 1) for j, aj in enumerate(a) if j)
    if form == "A":
        ax = abs(x)
        Q = 1 + sum(abs(bk) * ax ** (k + 1) for k, bk in enumerate(b))
        dQ = _sgn(x) * sum((k + 1) * abs(bk) * ax**k for k, bk in enumerate(b))
        dQdb = [_sgn(bk) * ax ** (k + 1) for k, bk in enumerate(b)]
    else:
        shift = 0 if form == "C" else 1
        S = sum(bk * x ** (k + shift) for k, bk in enumerate(b))
        dS = sum((k + shift) * bk * x ** (k + shift - 1) for k, bk in enumerate(b) if k + shift)
        sg = 1 if form == "N" else _sgn(S)
        Q = (1 + S) if form == "N" else (Fraction(1, 10) if form == "C" else 1) + abs(S)
        dQ = sg * dS
        dQdb = [sg * x ** (k + shift) for k in range(len(b))]
    F = Fraction(P) / Q
    return F, dP / Q - P * dQ / Q**2, [x**j / Q for j in range(len(a))], [-P / Q**2 * d for d in dQdb]


def _to_float(v: Fraction) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.copysign(math.inf, v)


def _run(backend, x, a, b, form, g):
    if backend == "op":
        xs, av, bv = (t.clone().requires_grad_() for t in (x, a, b))
        y = pau(xs, av, bv, form)
        y.backward(g)
        return y.detach(), xs.grad, av.grad, bv.grad
    if backend == "cuda":
        return run_on_cuda(x, a, b, form, g)
    if backend == "analytic":
        return (pau_reference(x, a, b, form), *pau_reference_backward(g, x, a, b, form))
    mod = cpu_kernel if backend == "cpu" else triton_pau
    kw = {"block": 64} if backend == "triton" else {}
    return (mod.forward(x, a, b, form, 1, **kw), *mod.backward(g, x, a, b, form, 1, **kw))


def _close(got: float, want: Fraction, scale: float, rtol: float) -> bool:
    want_f = _to_float(want)
    if abs(want_f) > FLOAT32_MAX:  # beyond float32: the only right answer is inf of that sign
        return got == math.copysign(math.inf, want_f)
    return math.isfinite(got) and abs(got - want_f) <= rtol * scale + 1e-36


@pytest.mark.parametrize("backend", ["op", "cpu", "triton", "analytic", CUDA])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("m,n", [(3, 4), (4, 4), (5, 4)])
def test_far_range_is_finite_and_accurate(backend, form, m, n):
    """float32 at |x| = 1e3 .. 3e38: value, grad_x and coefficient gradients within 2e-5
    (relative) of the exact rational values, inf exactly where those exceed float32."""
    a, b = _coefficients(m, n, form)
    fa = [Fraction(float(v)) for v in a]
    fb = [Fraction(float(v)) for v in b]
    for magnitude in (1e3, 1e4, 1e8, 1e30, 3e38):
        x = torch.tensor([magnitude, -magnitude], dtype=torch.float32)
        g = torch.tensor([1.0, 0.75], dtype=torch.float32)
        y, gx, ga, gb = _run(backend, x, a, b, form, g)
        exact = [_exact(form, fa, fb, Fraction(float(v))) for v in x]
        for i in range(2):
            F, dF = exact[i][0], exact[i][1]
            assert _close(y[i].item(), F, abs(float(F)) if abs(F) < FLOAT32_MAX else 0.0, 2e-5), (magnitude, i, "y")
            gi = Fraction(float(g[i]))
            assert _close(gx[i].item(), gi * dF, abs(_to_float(gi * dF)), 2e-5), (magnitude, i, "grad_x")
        for name, got, col in (("a", ga, 2), ("b", gb, 3)):
            for k in range(got.numel()):
                terms = [Fraction(float(g[i])) * exact[i][col][k] for i in range(2)]
                scale = sum(abs(_to_float(t)) for t in terms)
                if scale > FLOAT32_MAX:
                    continue  # one element's own gradient overflows float32
                assert _close(got[k].item(), sum(terms), scale, 2e-5), (magnitude, name, k)


@pytest.mark.parametrize("backend", ["op", "cpu", "triton", "analytic", CUDA])
@pytest.mark.parametrize("form", FORMS)
def test_limits_at_infinity(backend, form):
    x = torch.tensor([math.inf, -math.inf], dtype=torch.float32)
    g = torch.ones_like(x)
    for m, n in ((3, 4), (4, 4)):
        a, b = _coefficients(m, n, form)
        y, gx, _, _ = _run(backend, x, a, b, form, g)
        lead_b = b[-1].abs() if form != "N" else b[-1]
        want = 0.0 if m < n else (a[-1] / lead_b).item()
        torch.testing.assert_close(y, torch.full_like(y, want), rtol=1e-6, atol=0)
        assert torch.equal(gx, torch.zeros_like(gx))


@pytest.mark.parametrize("backend", ["op", "cpu", "triton", "analytic", CUDA])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("m,n", [(3, 4), (4, 4), (5, 4), (6, 4)])
def test_every_gradient_at_infinity_is_the_limit(backend, form, m, n):
    # At x = +-inf every output is the limit x -> +-inf: the float64 reference at
    # +-2^400 (within 2^-400 of the limit), rounded to float32 (inf where it exceeds it).
    # One sign per call: the coefficient gradients of +inf and -inf can be infinities
    # of opposite signs, whose sum is NaN.
    a, b = _coefficients(m, n, form)
    for sign in (1.0, -1.0):
        x = torch.tensor([sign * math.inf], dtype=torch.float32)
        g = torch.tensor([0.5])
        got = _run(backend, x, a, b, form, g)
        far = torch.tensor([sign * 2.0**400], dtype=torch.float64)
        want = (pau_reference(far, a.double(), b.double(), form),
                *pau_reference_backward(g.double(), far, a.double(), b.double(), form))
        for name, o, w in zip(("y", "grad_x", "grad_numerator", "grad_denominator"), got, want):
            torch.testing.assert_close(o, w.float(), rtol=1e-5, atol=1e-30, msg=f"{name} at {x.item()}")


@pytest.mark.parametrize("backend", ["op", "cpu", "analytic", CUDA])
def test_float64_far_range(backend):
    # Term-by-term evaluation overflowed float64 from |x| >= 1e62 with m + n = 9.
    a, b = _coefficients(5, 4, "A", dtype=torch.float64)
    x = torch.tensor([1e62, -1e100, 1e300], dtype=torch.float64)
    y, gx, ga, gb = _run(backend, x, a, b, "A", torch.ones_like(x))
    lead = (a[-1] / b[-1].abs()).item()
    torch.testing.assert_close(y, lead * x, rtol=1e-12, atol=0)
    torch.testing.assert_close(gx, torch.full_like(x, lead), rtol=1e-12, atol=0)


def test_grad_x_has_float32_accuracy_at_large_x_when_m_equals_n():
    # m = n: F' ~ 1/x^2 was the difference of two terms of size 1/x (relative error 6e-2 at 1e4).
    a, b = _coefficients(4, 4, "B")
    x = torch.tensor([1e3, -3e3, 1e4, -1e4], dtype=torch.float32)
    _, gx, _, _ = _run("cpu", x, a, b, "B", torch.ones_like(x))
    fa, fb = [Fraction(float(v)) for v in a], [Fraction(float(v)) for v in b]
    want = torch.tensor([float(_exact("B", fa, fb, Fraction(float(v)))[1]) for v in x], dtype=torch.float64)
    assert ((gx.double() - want).abs() / want.abs()).max() < 1e-5


def test_reference_zero_dim_input_with_grouped_shape_coefficients():
    a, b = _coefficients(5, 4, "A", dtype=torch.float64)
    x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    a2, b2 = a.reshape(1, -1).clone().requires_grad_(), b.reshape(1, -1).clone().requires_grad_()
    y = pau_reference(x, a2, b2)
    assert y.shape == ()
    y.backward()
    assert x.grad.shape == () and a2.grad.shape == (1, 6) and b2.grad.shape == (1, 4)
    gx, ga, gb = pau_reference_backward(torch.ones_like(x), x.detach(), a2.detach(), b2.detach())
    assert gx.shape == () and ga.shape == (1, 6)
    torch.testing.assert_close(gx, x.grad)
    torch.testing.assert_close(ga, a2.grad)
    yo = pau(x.detach(), a2.detach(), b2.detach())
    assert yo.shape == () and torch.allclose(yo, y.detach())


# ---------------------------------------------------------------------------
# RPAU noise


def test_noise_draws_are_pairwise_uncorrelated_and_uniform():
    n_el = 2**20
    k = 11  # the paper's orders in form C: 6 + 5 coefficients per element
    for seed in (0, 12345, 2**40 + 7):
        z = uniform_noise(seed, torch.arange(n_el), k).double()
        r = torch.corrcoef(z.T)
        off = r[~torch.eye(k, dtype=torch.bool)]
        assert off.abs().max() < 4 / math.sqrt(n_el), f"seed {seed}: max |r| {off.abs().max():.2e}"
        for c in range(k):
            counts = torch.histc(z[:, c], bins=64, min=-1, max=1)
            chi2 = ((counts - n_el / 64) ** 2 / (n_el / 64)).sum().item()
            assert chi2 < 120, f"seed {seed}, coefficient {c}: chi2 {chi2:.1f} with 63 degrees of freedom"
        assert abs(z.mean().item()) < 4 / math.sqrt(3 * n_el * k)


def test_noise_differs_between_neighbouring_elements_and_seeds():
    z = uniform_noise(5, torch.arange(2**16), 4)
    r = torch.corrcoef(torch.stack([z[:-1, 0], z[1:, 0]]))[0, 1]
    assert abs(r) < 4 / math.sqrt(2**16)
    other = uniform_noise(5 + 2**32, torch.arange(2**16), 4)  # seeds differing in the high word only
    assert abs(torch.corrcoef(torch.stack([z[:, 0], other[:, 0]]))[0, 1]) < 4 / math.sqrt(2**16)


def test_nearby_seeds_draw_unrelated_noise_not_their_neighbours():
    # Seeds as a step counter (0, 1, 2, ...): no seed draws for element i what seed 0
    # draws for element i ^ s (or any element nearby), in any coefficient.
    n_el = 2**16
    index = torch.arange(n_el)
    base = uniform_noise(0, index, 4)
    for s in (1, 2, 3, 7, 255, 12345):
        z = uniform_noise(s, index, 4)
        assert not torch.equal(uniform_noise(s, index ^ s, 4), base)
        for shift in range(-8, 9):  # the same and nearby elements: uncorrelated
            r = torch.corrcoef(torch.stack([z[8:-8, 0], base[8 + shift:n_el - 8 + shift, 0]]))[0, 1]
            assert abs(r) < 4 / math.sqrt(n_el), (s, shift)
        # Equal draw vectors only by chance (a 64-bit match of 4 draws).
        matches = (z[:, None, :] == base[None, :1024, :]).all(-1).sum()
        assert matches == 0, s


def test_an_int_seed_is_its_64_bits():
    # Any int is taken modulo 2^64 (2^64 - 1 is the int64 -1), as the reference does.
    a, b = _coefficients(5, 4, "A")
    x = torch.randn(257)
    for seed, same in ((2**64 - 1, -1), (2**63, -(2**63)), (2**64 + 5, 5)):
        y = pau(x, a, b, alpha=0.3, seed=seed)
        assert torch.equal(y, pau(x, a, b, alpha=0.3, seed=same))
        torch.testing.assert_close(y, pau_reference(x, a, b, "A", alpha=0.3, seed=seed), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["cpu", "triton"])
@pytest.mark.parametrize("seed", [0, 7, 2**40 + 7])
def test_kernels_draw_every_coefficient_bit_for_bit(backend, seed):
    # y = sum_j a_j (1 + z_j) x^j at x = 1 with a = e_j: the output is 1 + z_j exactly.
    x = torch.ones(300, dtype=torch.float32)
    b = torch.zeros(1)
    mod = cpu_kernel if backend == "cpu" else triton_pau
    kw = {"block": 128} if backend == "triton" else {}
    z = uniform_noise(seed, torch.arange(300), 7)
    for j in range(6):
        a = torch.zeros(6)
        a[j] = 1.0
        y = mod.forward(x, a, b, "N", 1, 1.0, torch.tensor([seed]), **kw)
        assert torch.equal(y - 1.0, z[:, j]), f"draw {j}"


# ---------------------------------------------------------------------------
# The registered ops: validation, fake strides, layouts


def test_registered_ops_validate_their_arguments():
    x = torch.randn(2, 6, 3)
    with pytest.raises(ValueError, match="groups but denominator has"):
        torch.ops.pau.forward(x, torch.randn(2, 6), torch.rand(1, 4), "A", 0.0, None)
    with pytest.raises(ValueError, match="alpha must be a finite"):
        torch.ops.pau.forward(x, torch.randn(6), torch.rand(4), "A", float("nan"), torch.tensor([1]))
    with pytest.raises(ValueError, match="seed must be an int64"):
        torch.ops.pau.forward(x, torch.randn(6), torch.rand(4), "A", 0.1, torch.tensor([1.0]))
    with pytest.raises(ValueError, match="grad_out must be"):
        torch.ops.pau.backward(torch.randn(5), x, torch.randn(6), torch.rand(4), "A", 0.0, None)
    with pytest.raises(ValueError, match="expected one of"):
        torch.ops.pau.backward(x, x, torch.randn(6), torch.rand(4), "Q", 0.0, None)
    for bad in (float("nan"), float("inf"), -0.1):
        with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
            pau(x, torch.randn(6), torch.rand(4), alpha=bad, seed=1)
    # Noise without a seed would be seed 0 in one backend and no noise in another.
    for op in (torch.ops.pau.forward, lambda *a: torch.ops.pau.backward(x, *a)):
        with pytest.raises(ValueError, match="needs a seed"):
            op(x, torch.randn(6), torch.rand(4), "A", 0.5, None)
    # A seed on another device (here: meta) would send the call to the fake kernel.
    with pytest.raises(ValueError, match="seed is on meta but x is on cpu"):
        torch.ops.pau.forward(x, torch.randn(6), torch.rand(4), "A", 0.5, torch.tensor([1], device="meta"))
    with pytest.raises(ValueError, match="at least one group"):
        torch.ops.pau.forward(x, torch.randn(0, 6), torch.rand(0, 4), "A", 0.0, None)


def _layouts():
    base = torch.randn(2, 4, 5, 3, dtype=torch.float64)
    return {
        "contiguous": base,
        "transposed": base.transpose(2, 3),
        "strided": torch.randn(2, 4, 10, 3, dtype=torch.float64)[:, :, ::2],
        "channels_last": base.contiguous(memory_format=torch.channels_last),
    }


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "channels_last"])
def test_opcheck_layouts_and_coefficient_views(layout):
    x = _layouts()[layout]
    a = torch.randn(6, 2, dtype=torch.float64).t()  # two groups, transposed views
    b = torch.rand(4, 2, dtype=torch.float64).t()
    assert not a.is_contiguous()
    torch.library.opcheck(torch.ops.pau.forward.default, (x, a, b, "B", 0.0, None))
    torch.library.opcheck(torch.ops.pau.backward.default, (torch.randn_like(x), x, a, b, "B", 0.0, None))
    y = pau(x, a, b, "B")
    assert y.is_contiguous()


def test_reference_fallback_keeps_the_kernels_layout(monkeypatch):
    from pau import ops

    monkeypatch.setattr(cpu_kernel, "_library", None)
    monkeypatch.setattr(cpu_kernel, "_error", "no C++ compiler found (test)")
    monkeypatch.setattr(ops, "_warned", {"cpu"})
    x = _layouts()["channels_last"]
    a, b = torch.randn(6, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    y = torch.ops.pau.forward(x, a, b, "A", 0.0, None)
    assert y.is_contiguous()
    torch.testing.assert_close(y, pau_reference(x, a, b))
    torch.library.opcheck(torch.ops.pau.forward.default, (x, a, b, "A", 0.0, None))
    torch.library.opcheck(torch.ops.pau.backward.default, (torch.randn_like(x), x, a, b, "A", 0.0, None))


def test_torch_compile_with_transposed_coefficient_views():
    a = torch.randn(6, 2).t().requires_grad_()
    b = torch.rand(4, 2).t().requires_grad_()
    x = torch.randn(3, 4, 5, requires_grad=True)
    f = torch.compile(lambda x, a, b: pau(x, a, b), fullgraph=True)
    f(x, a, b).sum().backward()
    gx, ga, gb = x.grad, a.grad, b.grad
    x.grad = a.grad = b.grad = None
    pau(x, a, b).sum().backward()
    torch.testing.assert_close(ga, a.grad)
    torch.testing.assert_close(gb, b.grad)
    torch.testing.assert_close(gx, x.grad)


# ---------------------------------------------------------------------------
# Second derivatives, torch.func


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("groups", [1, 2])
def test_gradgradcheck(form, groups):
    a, b = _coefficients(3, 2, form, dtype=torch.float64, groups=groups)
    x = torch.randn(2, 4, 3, dtype=torch.float64) * 1.5
    x[0, 0, 0] = 6.0  # one element in the far range
    inputs = [t.clone().requires_grad_() for t in (x, a, b)]
    assert torch.autograd.gradgradcheck(lambda *t: pau(*t, form), inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_second_derivative_matches_the_reference():
    a, b = _coefficients(5, 4, "A", dtype=torch.float64)
    x = torch.randn(20, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(pau(x, a, b).sum(), x, create_graph=True)
    (ggx,) = torch.autograd.grad(gx.sum(), x)
    xr = x.detach().clone().requires_grad_()
    (gr,) = torch.autograd.grad(pau_reference(xr, a, b).sum(), xr, create_graph=True)
    (ggr,) = torch.autograd.grad(gr.sum(), xr)
    torch.testing.assert_close(ggx, ggr)


def test_torch_func_grad_vmap_and_jacrev():
    a, b = _coefficients(5, 4, "A")
    x = torch.randn(7)
    g = torch.func.grad(lambda t: pau(t, a, b).sum())(x)
    xr = x.clone().requires_grad_()
    pau(xr, a, b).sum().backward()
    torch.testing.assert_close(g, xr.grad)
    batch = torch.randn(3, 7)
    torch.testing.assert_close(torch.func.vmap(lambda t: pau(t, a, b))(batch), pau(batch, a, b))
    jac = torch.func.jacrev(lambda t: pau(t, a, b))(x)
    torch.testing.assert_close(jac, torch.diag(xr.grad))
    ga = torch.func.grad(lambda c: pau(x, c, b).sum())(a)
    assert ga.shape == a.shape and torch.isfinite(ga).all()
    torch.testing.assert_close(torch.func.jvp(lambda t: pau(t, a, b), (x,), (torch.ones(7),))[1], xr.grad)


def test_forward_mode_ad_carries_tangents():
    # torch.autograd.forward_ad, outside torch.func: the tangent is dF/dx * v, not dropped.
    import torch.autograd.forward_ad as fwAD

    a, b = _coefficients(5, 4, "A")
    x, v = torch.randn(7), torch.randn(7)
    xr = x.clone().requires_grad_()
    pau(xr, a, b).sum().backward()
    with fwAD.dual_level():
        y = pau(fwAD.make_dual(x, v), a, b)
        primal, tangent = fwAD.unpack_dual(y)
        ta = fwAD.unpack_dual(pau(x, fwAD.make_dual(a, torch.ones(6)), b)).tangent
    torch.testing.assert_close(primal, pau(x, a, b))
    torch.testing.assert_close(tangent, xr.grad * v)
    assert ta is not None and ta.shape == x.shape


@pytest.mark.parametrize("backend", ["op", "cpu", "triton", "analytic", CUDA])
def test_form_a_noise_large_enough_to_flip_coefficient_signs(backend):
    # alpha > 1: c (1 + alpha z) can change sign, so sign(b_k) is taken per element.
    a, b = _coefficients(5, 4, "A", dtype=torch.float64, groups=2)
    x = torch.randn(2, 4, 50, dtype=torch.float64) * 2
    x[0, 0, :2] = torch.tensor([9.0, -40.0])  # the 1/x range too
    g = torch.randn_like(x)
    alpha, seed = 1.5, 99
    xs, av, bv = (t.clone().requires_grad_() for t in (x, a, b))
    pau_reference(xs, av, bv, "A", alpha=alpha, seed=seed).backward(g)
    if backend == "op":
        xo, ao, bo = (t.clone().requires_grad_() for t in (x, a, b))
        pau(xo, ao, bo, "A", alpha=alpha, seed=seed).backward(g)
        got = (xo.grad, ao.grad, bo.grad)
    elif backend == "analytic":
        got = pau_reference_backward(g, x, a, b, "A", alpha=alpha, seed=seed)
    elif backend == "cuda":
        got = run_on_cuda(x, a, b, "A", g, alpha=alpha, seed=seed)[1:]
    else:
        mod = cpu_kernel if backend == "cpu" else triton_pau
        kw = {"block": 64} if backend == "triton" else {}
        got = mod.backward(g, x, a, b, "A", 2, alpha, torch.tensor([seed]), **kw)
    for u, v in zip(got, (xs.grad, av.grad, bv.grad)):
        torch.testing.assert_close(u, v, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("groups,alpha", [(1, 0.0), (4, 0.1), (2, 1.5)])
def test_persistent_triton_backward_accumulates_over_many_tiles_per_program(form, groups, alpha):
    # Small blocks on 3 x 8 x 200 elements: every program walks several tiles of its
    # group's rows and sums them in registers before writing its row of partials.
    x = torch.randn(3, 8, 200, dtype=torch.float64) * 3
    x[0, 0, :3] = torch.tensor([50.0, -1e5, 7.0])
    rows, row_len = cpu_kernel.rows_layout(x, groups)
    tiles = rows // groups * -(-row_len // 64)
    assert -(-tiles // triton_pau._programs_per_group(x, groups, tiles)) >= 5
    a, b = _coefficients(5, 4, form, dtype=torch.float64, groups=groups)
    g = torch.randn_like(x)
    seed = 77 if alpha else None
    got = triton_pau.backward(g, x, a, b, form, groups, alpha, None if seed is None else torch.tensor([seed]),
                              block=64)
    want = pau_reference_backward(g, x, a, b, form, alpha=alpha, seed=seed)
    for u, v in zip(got, want):
        torch.testing.assert_close(u, v, rtol=1e-9, atol=1e-9 * v.abs().max().item())
