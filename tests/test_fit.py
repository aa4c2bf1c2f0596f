"""pau.fit: Padé approximants, least-squares fits and their NumPy model."""
from fractions import Fraction
from math import factorial

import mpmath
import numpy as np
import pytest
import torch

from pau.fit import PoleError, evaluate, least_squares, pade, real_poles, refine, taylor_coefficients
from pau.functional import pau_reference
from pau.init import table6

F = Fraction


def relu(x):
    return np.maximum(x, 0.0)


# --- Padé -------------------------------------------------------------------


def test_pade_tanh_5_4_is_the_closed_form():
    # tanh ~ (945 x + 105 x^3 + x^5) / (945 + 420 x^2 + 15 x^4)
    p, q = pade("tanh", 5, 4, exact=True)
    assert p == (0, 1, 0, F(1, 9), 0, F(1, 945))
    assert q == (0, F(4, 9), 0, F(1, 63))
    # The same from explicit Taylor coefficients and from a callable.
    series = [0, 1, 0, F(-1, 3), 0, F(2, 15), 0, F(-17, 315), 0, F(62, 2835)]
    assert pade(series, 5, 4, exact=True) == (p, q)
    want = np.array([float(v) for v in p + q])
    assert np.allclose(np.concatenate(pade(mpmath.tanh, 5, 4)), want, rtol=0, atol=1e-13)
    assert np.allclose(np.concatenate(pade(np.tanh, 5, 4)), want, rtol=0, atol=1e-8)


def test_pade_exp_2_2_and_the_general_closed_form():
    assert pade("exp", 2, 2, exact=True) == ((1, F(1, 2), F(1, 12)), (F(-1, 2), F(1, 12)))

    # [m/n] of exp: p_j = (m+n-j)! m! / ((m+n)! j! (m-j)!), q_j = (-1)^j (same with n).
    def closed(m, n):
        c = lambda j, k: F(factorial(m + n - j) * factorial(k), factorial(m + n) * factorial(j) * factorial(k - j))
        return tuple(c(j, m) for j in range(m + 1)), tuple((-1) ** j * c(j, n) for j in range(1, n + 1))

    for m, n in [(3, 2), (4, 4), (1, 3), (6, 5)]:
        assert pade("exp", m, n, exact=True) == closed(m, n)


@pytest.mark.parametrize("name,params", [("sigmoid", {}), ("swish", {"beta": 1.5}), ("tanh", {})])
@pytest.mark.parametrize("m,n", [(3, 2), (7, 6), (4, 4)])
def test_pade_matches_the_series_through_order_m_plus_n(name, params, m, n):
    c = taylor_coefficients(name, m + n + 3, **params)
    p, q = pade(name, m, n, exact=True, **params)
    qq = (F(1),) + q
    residual = [sum(qq[j] * c[k - j] for j in range(min(k, n) + 1)) - (p[k] if k <= m else 0) for k in range(m + n + 1)]
    assert all(r == 0 for r in residual)


def test_table6_sigmoid_b4_is_1_over_1008_not_10008():
    p, q = pade("sigmoid", 5, 4, exact=True)
    printed = [F(t) for t in table6.COLUMNS[0].printed]
    assert list(p) == printed[:6] and list(q[:3]) == printed[6:9]
    assert q[3] == F(1, 1008) and printed[9] == F(1, 10008)


def test_pade_degenerate_blocks():
    # f = 1: the [2/2] block is singular; the lowest-degree denominator is Q = 1.
    assert pade([1, 0, 0, 0, 0], 2, 2, exact=True) == ((1, 0, 0), (0, 0))
    # f = x has no [0/1] approximant with Q(0) = 1.
    with pytest.raises(ValueError, match="does not exist"):
        pade([0, 1], 0, 1)


def test_pade_bad_input():
    with pytest.raises(ValueError, match="m must be an integer >= 0"):
        pade("tanh", -1, 2)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        pade("tanh", 2, -1)
    with pytest.raises(ValueError, match="needs 10 Taylor coefficients"):
        pade([0, 1, 0], 5, 4)
    with pytest.raises(ValueError, match="valid names: exp, sigmoid, swish, tanh"):
        pade("relu", 5, 4)


# --- the NumPy model ----------------------------------------------------------


@pytest.mark.parametrize("form", ["A", "B", "C", "N"])
def test_evaluate_matches_the_reference_op(form):
    rng = np.random.default_rng(1)
    a = rng.normal(size=6)
    b = rng.normal(size=5 if form == "C" else 4) * (0.1 if form == "N" else 1.0)
    x = np.linspace(-3, 3, 997)
    want = pau_reference(torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(b), form).numpy()
    np.testing.assert_allclose(evaluate(x, a, b, form), want, rtol=1e-12, atol=1e-12)


def test_real_poles():
    # Q = 1 - x^2 / 4 vanishes at +-2.
    assert real_poles([1.0], [0.0, -0.25], (-3, 3), "N") == pytest.approx([-2.0, 2.0])
    assert real_poles([1.0], [0.0, -0.25], (-1, 1), "N") == []
    assert real_poles([1.0], [0.0, -0.25], (-3, 3), "B") == []


# --- least squares ------------------------------------------------------------


@pytest.fixture(scope="module")
def relu_fits_a():
    return {mn: least_squares(relu, *mn, form="A") for mn in [(3, 2), (5, 4), (7, 6)]}


def test_least_squares_relu_form_a_reaches_the_printed_optimum(relu_fits_a):
    fit = relu_fits_a[(5, 4)]
    printed = table6.COLUMNS[3]
    a, b = printed.values()
    x = np.linspace(-3, 3, fit.points)
    printed_rms = np.sqrt(np.mean((evaluate(x, a, b, "A") - relu(x)) ** 2))
    assert fit.rms_error <= printed_rms * (1 + 1e-6)
    assert fit.rms_error == pytest.approx(5.065e-3, rel=1e-3)
    assert fit.max_error == pytest.approx(0.02997, rel=1e-3)
    np.testing.assert_allclose(np.concatenate([fit.numerator, fit.denominator]), a + b, rtol=1e-3)
    # The reported errors are those of the returned coefficients.
    r = evaluate(x, fit.numerator, fit.denominator, "A") - relu(x)
    assert fit.max_error == pytest.approx(np.abs(r).max(), rel=1e-12)


def test_printed_leaky_relu_is_a_least_squares_optimum_of_form_a():
    col = table6.COLUMNS[4]
    a, b = col.values()
    target = lambda x: np.where(x >= 0, x, 0.01 * x)
    again = refine(target, a, b, "A")
    moved = np.abs(np.concatenate([again.numerator, again.denominator]) - np.array(a + b)) / np.abs(a + b)
    assert moved.max() < 1e-3
    x = np.linspace(-3, 3, again.points)
    before = np.sqrt(np.mean((evaluate(x, a, b, "A") - target(x)) ** 2))
    assert again.rms_error == pytest.approx(before, rel=1e-4)
    # ... and not of form B, where the same numbers are more than three times worse.
    assert np.sqrt(np.mean((evaluate(x, a, b, "B") - target(x)) ** 2)) > 3 * before


def test_fits_at_3_2_and_7_6_work_and_improve_with_order(relu_fits_a):
    for (m, n), fit in relu_fits_a.items():
        assert fit.numerator.shape == (m + 1,) and fit.denominator.shape == (n,)
        assert np.all(np.isfinite(fit.numerator)) and np.all(np.isfinite(fit.denominator))
    rms = [relu_fits_a[mn].rms_error for mn in [(3, 2), (5, 4), (7, 6)]]
    assert rms[0] < 0.035 and rms[1] < 5.1e-3 and rms[2] < 1.2e-3
    assert rms[0] > rms[1] > rms[2]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "gelu", "softplus"])
@pytest.mark.parametrize("form", ["A", "B", "C", "N"])
def test_fits_improve_with_order_everywhere(name, form):
    from pau.init import target

    f = target(name)
    rms = [least_squares(f, m, n, form).rms_error for m, n in [(3, 2), (5, 4), (7, 6)]]
    assert rms[0] >= rms[1] >= rms[2]


def test_least_squares_is_deterministic_and_takes_torch_functions():
    one = least_squares(relu, 3, 2, "A")
    two = least_squares(torch.relu, 3, 2, "A")
    assert one.denominator.shape == (2,)
    np.testing.assert_array_equal(one.numerator, two.numerator)
    np.testing.assert_array_equal(one.denominator, two.denominator)
    num, den = one.tensors()
    assert num.dtype == den.dtype == torch.float64


def test_form_n_fit_with_a_pole_is_refused():
    # The least-squares fit of 1/(x - 0.3005) is the function itself, pole included.
    f = lambda x: 1.0 / (x - 0.3005)
    with pytest.raises(PoleError, match=r"pole in \[-3.0, 3.0\] \(at x = 0.3005\).*safe form"):
        least_squares(f, 1, 1, "N")
    assert least_squares(f, 1, 1, "A").form == "A"  # a safe form never has one


def test_least_squares_bad_input():
    with pytest.raises(ValueError, match="m must be an integer >= 0"):
        least_squares(relu, -1, 2)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        least_squares(relu, 2, -1)
    with pytest.raises(ValueError, match="lo < hi"):
        least_squares(relu, 2, 2, interval=(3, -3))
    with pytest.raises(ValueError, match="lo < hi"):
        least_squares(relu, 2, 2, interval=(1, 1))
    with pytest.raises(ValueError, match="expected one of A, B, C, N"):
        least_squares(relu, 2, 2, form="D")
    with pytest.raises(ValueError, match="not finite"):
        least_squares(lambda x: np.where(x > 0, np.nan, x), 2, 2)
    with pytest.raises(ValueError, match="a start must have shapes"):
        least_squares(relu, 2, 2, starts=[([0, 1], [0, 0])])
