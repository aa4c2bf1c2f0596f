"""pau.init: named initial coefficients, the shipped data file and Table 6."""
import json
from fractions import Fraction
from importlib import resources

import numpy as np
import pytest
import torch

import pau
from pau import init
from pau.functional import pau_reference
from pau.init import fitting, store, table6

X = torch.linspace(-3, 3, 6001, dtype=torch.float64)
LRELU_001 = (
    [0.02979246, 0.61837738, 2.32335207, 3.05202660, 1.48548002, 0.25103717],
    [1.14201226, 4.39322834, 0.87154450, 0.34720652],
)
# Max error on [-3, 3] each shipped 5/4 initialisation must stay within, in
# the form it was fitted for (the worst form of each function, with margin).
TOLERANCE = {
    "identity": 1e-12,
    "relu": 0.035,
    "leaky_relu": 0.055,  # LReLU(-0.5) in form N: 0.051
    "sigmoid": 2e-6,
    "tanh": 5e-4,
    "swish": 2e-4,
    "gelu": 4e-3,
    "elu": 4e-3,
    "softplus": 1e-5,
    "relu6": 0.035,  # ReLU on [-3, 3]
    "hardswish": 1e-12,  # x (x + 3) / 6 on [-3, 3]: a polynomial
}


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PAU_CACHE_DIR", str(tmp_path / "cache"))
    store.cached_fit.cache_clear()
    yield
    store.cached_fit.cache_clear()


def max_error(name, params, num, den, form):
    approx = pau_reference(X, num, den, form).numpy()
    return float(np.max(np.abs(approx - init.target(name, **params)(X.numpy()))))


def shipped_entries():
    data = json.loads(resources.files("pau.init").joinpath(init.DATA_FILE).read_text())
    return data, [init.Entry.from_json(e) for e in data["entries"].values()]


def test_default_is_the_papers_leaky_relu():
    num, den = init.coefficients("leaky_relu")
    assert num.dtype == den.dtype == torch.float64
    assert num.tolist() == LRELU_001[0] and den.tolist() == LRELU_001[1]
    assert init.coefficients("leaky_relu", 5, 4, "A", negative_slope=0.01, source="paper")[0].tolist() == LRELU_001[0]
    act = pau.PAU()
    torch.testing.assert_close(act.numerator.data, torch.tensor(LRELU_001[0], dtype=act.numerator.dtype))
    torch.testing.assert_close(act.denominator.data, torch.tensor(LRELU_001[1], dtype=act.denominator.dtype))


def test_project_fit_agrees_with_printed_relu_family():
    for col in table6.COLUMNS[3:]:
        params = dict(col.params)
        a, b = col.values()
        num, den = init.coefficients(col.name, source="fit", **params)
        np.testing.assert_allclose(torch.cat([num, den]).numpy(), a + b, rtol=1e-3, atol=1e-5)
        a64, b64 = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
        printed = max_error(col.name, params, a64, b64, "A")
        assert max_error(col.name, params, num, den, "A") == pytest.approx(printed, rel=1e-3)


def test_sigmoid_uses_the_pade_b4_not_the_printed_typo():
    num, den = init.coefficients("sigmoid")
    assert den[3].item() == pytest.approx(1 / 1008, rel=1e-15)
    paper_num, paper_den = init.coefficients("sigmoid", source="paper")
    assert paper_den[3].item() == pytest.approx(1 / 10008, rel=1e-15)
    assert torch.equal(num, paper_num) and torch.equal(den[:3], paper_den[:3])
    good, bad = max_error("sigmoid", {}, num, den, "A"), max_error("sigmoid", {}, paper_num, paper_den, "A")
    assert good < 1e-6 and bad > 0.03


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_swish_padé_is_the_printed_formula(beta):
    num, den = init.coefficients("swish", beta=beta)
    paper_num, paper_den = init.coefficients("swish", beta=beta, source="paper")
    torch.testing.assert_close(num, paper_num, rtol=1e-14, atol=0)
    torch.testing.assert_close(den, paper_den, rtol=1e-14, atol=0)
    b = Fraction(beta)
    assert num[3].item() == float(3 * b**2 / 56) and den[3].item() == float(b**4 / 1680)


def test_data_file_is_complete():
    data, entries = shipped_entries()
    assert data["version"] == init.DATA_VERSION == 1
    assert data["interval"] == [-3.0, 3.0]
    keys = {e.key for e in entries}
    for name, params in init.SHIPPED:
        for form in "ABCN":
            assert init.entry_key(name, init.TARGETS[name].resolve(params), 5, 4, form) in keys
    assert len(entries) == 4 * len(init.SHIPPED)


def test_each_shipped_initialisation_approximates_its_target():
    _, entries = shipped_entries()
    for e in entries:
        num, den = e.tensors()
        assert num.shape == (e.m + 1,) and den.shape == (e.n + 1 if e.form == "C" else e.n,)
        err = max_error(e.name, dict(e.params), num, den, e.form)
        assert err <= TOLERANCE[e.name], (e.key, err)
        # The recorded error is the one the library's op gives.
        assert err == pytest.approx(e.max_error, rel=1e-6, abs=1e-12), e.key
        expected_method = {"identity": "exact", "sigmoid": "pade", "tanh": "pade", "swish": "pade"}
        assert e.method == expected_method.get(e.name, "least_squares"), e.key


def test_data_file_is_what_the_fitter_produces():
    shipped = init.fitted("elu", 5, 4, "B")
    fresh = init.compute("elu", 5, 4, "B")
    # Bit-equal on one machine; the tolerance leaves room for another BLAS.
    np.testing.assert_allclose(fresh.numerator, shipped.numerator, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(fresh.denominator, shipped.denominator, rtol=1e-5, atol=1e-8)
    assert fresh.rms_error == pytest.approx(shipped.rms_error, rel=1e-7)
    assert init.compute("tanh", 5, 4, "C") == init.fitted("tanh", 5, 4, "C")


def test_building_a_pau_runs_no_optimiser(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an optimiser ran")

    monkeypatch.setattr(fitting, "compute", refuse)
    for name, params in init.SHIPPED:
        for form in "ABCN":
            num, den = init.coefficients(name, 5, 4, form, **params)
            assert torch.isfinite(num).all() and torch.isfinite(den).all()
    pau.PAU(form="C", init="gelu")


def test_other_orders_are_fitted_once_and_cached(tmp_path, monkeypatch):
    num, den = init.coefficients("relu", 3, 2, "A")
    assert num.shape == (4,) and den.shape == (2,)
    assert max_error("relu", {}, num, den, "A") < 0.12
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 1

    calls = []
    real = fitting.compute
    monkeypatch.setattr(fitting, "compute", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = init.coefficients("relu", 3, 2, "A")  # memory
    store.cached_fit.cache_clear()
    from_disk = init.coefficients("relu", 3, 2, "A")  # disk
    assert calls == []
    for other in (again, from_disk):
        assert torch.equal(other[0], num) and torch.equal(other[1], den)


@pytest.mark.parametrize("form", ["A", "B", "C", "N"])
def test_pade_names_at_other_orders(form):
    for m, n, tol in [(3, 2, 0.05), (7, 6, 1e-6)]:
        num, den = init.coefficients("tanh", m, n, form)
        assert den.shape == (n + 1 if form == "C" else n,)
        assert max_error("tanh", {}, num, den, form) < tol
        assert init.fitted("tanh", m, n, form).method == "pade"


def test_identity_is_exact_in_every_form():
    for form in "ABCN":
        num, den = init.coefficients("identity", 3, 2, form)
        torch.testing.assert_close(pau_reference(X, num, den, form), X, rtol=0, atol=0)


def test_pau_module_uses_named_initialisations():
    act = pau.PAU(m=3, n=2, form="B", init="tanh").double()
    num, den = init.coefficients("tanh", 3, 2, "B")
    torch.testing.assert_close(act.numerator.data, num, rtol=1e-7, atol=0)  # through the default dtype
    torch.testing.assert_close(act.denominator.data, den, rtol=1e-7, atol=0)
    with torch.no_grad():
        assert (pau_reference(X, act.numerator, act.denominator, "B") - torch.tanh(X)).abs().max() < 0.05


def test_bad_input_names_the_valid_choices():
    names = "identity, relu, leaky_relu, sigmoid, tanh, swish, gelu, elu, softplus, relu6, hardswish"
    with pytest.raises(ValueError, match=f"valid names: {names}"):
        init.coefficients("mish")
    with pytest.raises(ValueError, match="m must be an integer >= 0"):
        init.coefficients("relu", m=-1)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        init.coefficients("relu", n=-2)
    with pytest.raises(ValueError, match="expected one of A, B, C, N"):
        init.coefficients("relu", form="Q")
    with pytest.raises(ValueError, match=r"takes parameters \(negative_slope\); got unexpected beta"):
        init.coefficients("leaky_relu", beta=1.0)
    with pytest.raises(ValueError, match="valid choices: auto, fit, paper"):
        init.coefficients("relu", source="table")
    with pytest.raises(ValueError, match="m=5, n=4, form A only"):
        init.coefficients("relu", 3, 2, source="paper")
    with pytest.raises(ValueError, match=r"Table 6 has no column.*LReLU\(0.01\)"):
        init.coefficients("leaky_relu", negative_slope=0.1, source="paper")
    with pytest.raises(ValueError, match="valid names"):
        pau.PAU(init="mish")


def test_relu6_is_relu_on_the_interval():
    e6, e = init.fitted("relu6"), init.fitted("relu")
    assert e6.numerator == e.numerator and e6.denominator == e.denominator
    assert init.entry("relu6").max_error == pytest.approx(0.02997, abs=1e-5)


def _run(code, cwd=None, **env):
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=cwd, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_empty_cache_dir_means_no_disk_cache(tmp_path, monkeypatch):
    from pau import cache
    from pau.kernels import cpu

    monkeypatch.setenv("PAU_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    assert cache.cache_dir() is None and init.store.disk_dir() is None
    init.coefficients("relu", 3, 2)  # fitted, kept in memory only
    assert list(tmp_path.rglob("*")) == []
    # The kernel is built into a private temporary folder, never the working directory.
    scratch = cpu.cache_dir()
    assert scratch == cache.scratch_dir() and scratch.is_dir() and tmp_path not in scratch.parents
    monkeypatch.setenv("PAU_CACHE_DIR", str(tmp_path / "here"))
    assert cpu.cache_dir() == tmp_path / "here" and init.store.disk_dir() == tmp_path / "here" / "init-v1"


@pytest.mark.slow  # compiles the CPU kernel afresh
def test_empty_cache_dir_means_no_disk_cache_and_the_kernel_still_loads(tmp_path):
    code = (
        "import pau, torch\n"
        "from pau import init\n"
        "from pau.kernels import cpu\n"
        "init.coefficients('relu', 3, 2)\n"
        "assert init.store.disk_dir() is None\n"
        "assert cpu.available(), cpu.unavailable_reason()\n"
        "x = torch.randn(64, requires_grad=True)\n"
        "pau.PAU()(x).sum().backward()\n"
        "print(cpu.cache_dir())\n"
    )
    home = tmp_path / "home"
    home.mkdir()
    # Run from tmp_path: nothing may land in the working directory or the home either.
    kernel_dir = _run(code, cwd=tmp_path, PAU_CACHE_DIR="", HOME=str(home),
                      XDG_CACHE_HOME=str(home / ".cache")).strip()
    assert kernel_dir and not kernel_dir.startswith(str(tmp_path))
    assert list(tmp_path.rglob("*.json")) == [] and list(tmp_path.rglob("*.so")) == []


def test_the_default_pau_needs_no_scipy():
    code = (
        "import sys, pau\n"
        "for init in ('leaky_relu', 'relu', 'gelu', 'tanh', 'hardswish'):\n"
        "    pau.PAU(init=init); pau.RPAU(init=init, form='B')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'threadpoolctl')))\n"
    )
    assert _run(code).strip() == "[]"


def _second_moment_by_quadrature(unit):
    from scipy import integrate

    from pau.fit import evaluate

    a, b = unit.numerator.detach().double().numpy(), unit.denominator.detach().double().numpy()
    f = lambda x: evaluate(np.array([x]), a, b, unit.form)[0] ** 2 * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    return sum(integrate.quad(f, lo, hi, limit=200)[0] for lo, hi in ((-np.inf, 0.0), (0.0, np.inf)))


@pytest.mark.parametrize("make", [lambda: pau.PAU(init="relu"), lambda: pau.PAU(init="tanh", form="B"),
                                  lambda: pau.RPAU(), lambda: pau.PAU(init="gelu", form="C")])
def test_calculate_gain_is_one_over_the_rms_under_a_standard_normal(make):
    unit = make()
    assert pau.calculate_gain(unit) == pytest.approx(_second_moment_by_quadrature(unit) ** -0.5, rel=1e-7)


def test_calculate_gain_matches_torch_for_the_identity_and_relu():
    assert pau.calculate_gain(pau.PAU(init="identity")) == pytest.approx(1.0, abs=1e-9)
    # The ReLU fit is within 3e-2 of ReLU, so its gain is that close to sqrt(2).
    assert pau.calculate_gain(pau.PAU(init="relu")) == pytest.approx(torch.nn.init.calculate_gain("relu"), rel=1e-3)


def test_calculate_gain_keeps_the_signal_at_unit_scale_through_the_unit():
    torch.manual_seed(0)
    unit, fan_in = pau.PAU(init="tanh"), 512
    layer = torch.nn.Linear(fan_in, 512, bias=False)
    torch.nn.init.normal_(layer.weight, std=pau.calculate_gain(unit) / fan_in**0.5)
    with torch.no_grad():  # the reference op: this file's cache folder is fresh, the kernel not built
        out = layer(pau_reference(torch.randn(4096, fan_in), unit.numerator, unit.denominator, unit.form))
    assert out.pow(2).mean().item() == pytest.approx(1.0, rel=0.05)
    # Several coefficient sets: the mean of their second moments.
    grouped = pau.PAU(groups=2)
    with torch.no_grad():
        grouped.numerator[1] = pau.init.coefficients("tanh")[0]
        grouped.denominator[1] = pau.init.coefficients("tanh")[1]
    both = 0.5 * (pau.calculate_gain(pau.PAU()) ** -2 + pau.calculate_gain(pau.PAU(init="tanh")) ** -2)
    assert pau.calculate_gain(grouped) == pytest.approx(both**-0.5, rel=1e-6)
    with pytest.raises(ValueError, match="takes a PAU or RPAU"):
        pau.calculate_gain(torch.nn.ReLU())


def test_the_readme_lists_what_ships():
    import re
    from pathlib import Path

    text = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    listed = re.search(r"orders 5/4, every form: ([^)]*)\)", text).group(1)
    names = [n.strip() for n in re.sub(r"leaky_relu at slopes [-0-9., ]*?(?=, [a-z])", "leaky_relu", listed).split(",")]
    assert sorted(names) == sorted({name for name, _ in init.SHIPPED})
    slopes = re.search(r"leaky_relu at slopes ([-0-9., ]*?)(?:, [a-z])", listed).group(1)
    shipped = [p["negative_slope"] for name, p in init.SHIPPED if name == "leaky_relu"]
    assert [float(v) for v in slopes.split(",")] == shipped


def test_the_data_file_is_in_the_writers_format():
    from pau.init import datafile

    text = resources.files("pau.init").joinpath(init.DATA_FILE).read_text()
    data = json.loads(text)
    assert datafile.dump_data(data) == text
    assert data["generator"] == "scripts/fit_coefficients.py" and data["points"] == pau.fit.DEFAULT_POINTS


# The released code's "pade_optimized_leakyrelu" (github ml-research/pau, pau/cuda/python_imp/Pade.py).
RELEASED = (
    [3.35583603e-02, 5.05000375e-01, 1.65343934e00, 2.01001052e00, 9.31901999e-01, 1.52424124e-01],
    [3.30847488e-06, 3.98021568e00, 5.12471206e-07, 3.01830109e-01],
)


def _released_code_formula(x, a, b):
    """What the released kernels compute: P(x) / (1 + sum_k |b_k| |x|^k), written out."""
    p = sum(a[i] * x**i for i in range(len(a)))
    q = 1.0 + sum(abs(b[k - 1]) * np.abs(x) ** k for k in range(1, len(b) + 1))
    return p / q


def _one_sided_slopes(num, den, at, h=1e-7):
    x = torch.tensor([at - h, at, at + h], dtype=torch.float64)
    y = pau_reference(x, num, den, "A")
    return ((y[2] - y[1]) / h).item(), ((y[1] - y[0]) / h).item()


def test_released_leaky_relu_is_the_authors_numbers_in_form_a():
    num, den = init.coefficients("pade_optimized_leakyrelu")
    assert num.tolist() == RELEASED[0] and den.tolist() == RELEASED[1]
    e = init.entry("pade_optimized_leakyrelu")
    assert (e.m, e.n, e.form, e.method) == (5, 4, "A", "released")
    unit = pau.PAU(init="pade_optimized_leakyrelu")
    assert unit.form == "A"
    # The unit evaluates what the released code evaluates, on and far off [-3, 3].
    x = torch.linspace(-50, 50, 100001, dtype=torch.float64)
    ours = pau_reference(x, unit.numerator.detach().double(), unit.denominator.detach().double(), unit.form)
    theirs = _released_code_formula(x.numpy(), *(np.float32(v).astype(np.float64) for v in RELEASED))
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-12, atol=1e-12)


def test_released_leaky_relu_against_table_6s_column():
    rel = init.coefficients("pade_optimized_leakyrelu")
    t6 = init.coefficients("leaky_relu", source="paper")
    # Slope at 0: 0.505 on both sides (odd b_k ~ 0, no kink) against Table 6's kink.
    right, left = _one_sided_slopes(*rel, 0.0)
    assert right == pytest.approx(0.505, abs=1e-6) and left == pytest.approx(0.505, abs=1e-6)
    right, left = _one_sided_slopes(*t6, 0.0)
    assert right == pytest.approx(0.5844, abs=1e-4) and left == pytest.approx(0.6524, abs=1e-4)
    # Both approximate LReLU(0.01) on [-3, 3], the released code's slightly less closely.
    assert max_error("leaky_relu", {}, *rel, "A") == pytest.approx(0.03356, abs=1e-5)  # at 0: F(0) = a_0
    assert max_error("leaky_relu", {}, *t6, "A") == pytest.approx(0.02979, abs=1e-5)
    e_rel, e_t6 = init.entry("pade_optimized_leakyrelu"), init.entry("leaky_relu")
    assert e_rel.rms_error == pytest.approx(0.00554, abs=1e-5) and e_t6.rms_error == pytest.approx(0.00503, abs=1e-5)
    # Tails: each tends to a line of slope a_5/b_4 at both ends.
    x = torch.tensor([-10.0, 10.0], dtype=torch.float64)
    np.testing.assert_allclose(pau_reference(x, *rel, "A").numpy(), [-2.2746, 7.8254], atol=1e-4)
    np.testing.assert_allclose(pau_reference(x, *t6, "A").numpy(), [-2.7265, 9.0190], atol=1e-4)
    for (num, den), slope in ((rel, 0.5050), (t6, 0.7230)):
        assert (num[5] / den[3]).item() == pytest.approx(slope, abs=1e-4)
        for at in (-1e5, 1e5):
            assert _one_sided_slopes(num, den, at, h=1.0)[0] == pytest.approx(slope, abs=1e-4)


def test_released_leaky_relu_refuses_what_it_is_not():
    with pytest.raises(ValueError, match="m=5, n=4, form='A'"):
        init.coefficients("pade_optimized_leakyrelu", 3, 2)
    with pytest.raises(ValueError, match="m=5, n=4, form='A'"):
        pau.PAU(form="B", init="pade_optimized_leakyrelu")
    with pytest.raises(ValueError, match="drop source="):
        init.coefficients("pade_optimized_leakyrelu", source="paper")
    with pytest.raises(ValueError, match="takes no parameters"):
        init.coefficients("pade_optimized_leakyrelu", negative_slope=0.01)
    with pytest.raises(ValueError, match="pade_optimized_leakyrelu"):  # an unknown name lists it
        init.coefficients("pade_leakyrelu")
