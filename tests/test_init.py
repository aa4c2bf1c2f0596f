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
from pau.init import table6

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
}


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PAU_CACHE_DIR", str(tmp_path / "cache"))
    init._fitted.cache_clear()
    yield
    init._fitted.cache_clear()


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

    monkeypatch.setattr(init, "least_squares", refuse)
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
    real = init.compute
    monkeypatch.setattr(init, "compute", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = init.coefficients("relu", 3, 2, "A")  # memory
    init._fitted.cache_clear()
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
    names = "identity, relu, leaky_relu, sigmoid, tanh, swish, gelu, elu, softplus"
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
