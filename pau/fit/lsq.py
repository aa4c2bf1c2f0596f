"""Least-squares fit of a PAU of any order and denominator form to a function.

The objective is the mean squared error on a uniform grid of the interval
(the paper's Appendix A.1 used step 1e-6 on [-3, 3]; the default here is
6001 points, step 1e-3 there). It is not convex and, through |.| in the
denominator, not smooth everywhere, so the fit

1. builds starting points: the polynomial fit; linearised (Sanathanan-Koerner)
   fits, which minimise |P - f Q|^2 / |Q_prev|^2, linear in the coefficients
   once Q is written with a fixed sign pattern (form A's 1 + sum c_k |x|^k
   with c >= 0; 1 + sum c_k x^k; 1 + sign(x) sum c_k x^k, the kink at 0 that
   |b_1 x + ...| has); for forms B, C and N also the refined form-A fit and
   its mirror image; and a few seeded random points;
2. runs scipy's trust-region least squares (analytic Jacobian) briefly from
   every start and to convergence from the two best; form A is solved with
   b >= 0, which loses nothing (only |b_k| enters Q) and makes it smooth;
3. restarts from seeded perturbations of the best point and keeps the lowest
   error.

This finds the best of several local optima, not a certified global one.
Everything is deterministic for a given input. Form N can place a pole in the
interval; when the best fit found has one, it is refused (``PoleError``)
rather than replaced by a worse pole-free one.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import importlib

import numpy as np

from ..math.forms import FORM_OFFSET, check_form, denominator_length
from .rational import check_orders, evaluate, real_poles, split

DEFAULT_POINTS = 6001  # step 1e-3 on [-3, 3]


def _scipy_optimize():
    # Imported on use: the library itself needs no scipy (shipped coefficients are
    # read from a file); only fitting new ones does.
    try:
        return importlib.import_module("scipy.optimize")
    except ImportError as err:
        raise ImportError(
            "least-squares fitting of PAU coefficients needs scipy: pip install 'pau[fit]'"
        ) from err


def _single_thread():
    # The problems are tiny (10 columns); threaded BLAS only adds contention,
    # which on a busy machine makes each SVD 50x slower.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1)


class PoleError(ValueError):
    """The form-N fit has a denominator that vanishes inside the interval."""


@dataclass(frozen=True, eq=False)  # array fields: compare coefficients explicitly
class FitResult:
    """Coefficients of a fitted PAU and its error on the fitting grid."""

    numerator: np.ndarray
    denominator: np.ndarray
    form: str
    m: int
    n: int
    interval: tuple[float, float]
    max_error: float
    rms_error: float
    points: int
    starts: int = 0

    def __call__(self, x) -> np.ndarray:
        return evaluate(x, self.numerator, self.denominator, self.form)

    def tensors(self):
        """(numerator, denominator) as float64 torch tensors."""
        import torch

        return (
            torch.tensor(self.numerator, dtype=torch.float64),
            torch.tensor(self.denominator, dtype=torch.float64),
        )


def check_interval(interval) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise ValueError(f"interval must be a pair (lo, hi) with lo < hi, got {interval!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"interval must be a pair (lo, hi) of finite numbers with lo < hi, got {interval!r}")
    return lo, hi


def sample(f, x: np.ndarray) -> np.ndarray:
    """f on the grid, from a NumPy callable or, failing that, a torch one."""
    try:
        y = f(x)
    except TypeError:
        import torch

        y = f(torch.from_numpy(x)).detach().cpu().numpy()
    y = np.asarray(y, dtype=np.float64)
    if y.shape != x.shape:
        y = np.broadcast_to(y, x.shape).copy()
    if not np.all(np.isfinite(y)):
        raise ValueError("the target function is not finite everywhere on the interval")
    return y


def _linearised(x, y, m: int, n: int, form: str, shape: str, iterations: int = 8) -> np.ndarray:
    """A Sanathanan-Koerner start in ``form``'s layout.

    The denominator is taken as q0 + s(x) sum_k c_k x^k with a fixed sign
    pattern s, which makes P - y Q linear in (a, c):
    ``shape`` "abs": form A's 1 + sum c_k |x|^k, c >= 0;
    "plus": s = +1 (Q is a polynomial, no kink);
    "signx": s = sign(x) (a kink at 0, as |b_1 x + ...| has when b_1 != 0).
    """
    offset, k0 = (0.1, 0) if form == "C" else (1.0, 1)
    vp = np.vander(x, m + 1, increasing=True)
    if shape == "abs":
        vq = np.vander(np.abs(x), n + 1, increasing=True)[:, 1:]
        offset, k0 = 1.0, 1
    else:
        s = np.where(x >= 0, 1.0, -1.0) if shape == "signx" else np.ones_like(x)
        vq = s[:, None] * np.vander(x, n + 1, increasing=True)[:, k0:]
    design = np.concatenate([vp, -y[:, None] * vq], axis=1)  # P - y (Q - q0) = q0 y
    lower = np.full(design.shape[1], -np.inf)
    if shape == "abs":
        lower[m + 1 :] = 0.0
    w = np.ones_like(x)
    theta = np.zeros(design.shape[1])
    for _ in range(iterations):
        if shape == "abs":
            theta = _scipy_optimize().lsq_linear(
                design * w[:, None], offset * y * w, bounds=(lower, np.inf), method="bvls"
            ).x
        else:
            theta = np.linalg.lstsq(design * w[:, None], offset * y * w, rcond=None)[0]
        q = offset + vq @ theta[m + 1 :]
        if np.any(np.abs(q) < 1e-8):
            break
        w = 1.0 / np.abs(q)
    a, c = theta[: m + 1], theta[m + 1 :]
    if form == "C" and shape == "abs":  # 0.1 + |0.9 + S| equals 1 + S wherever S >= -0.9
        c = np.concatenate([[0.9], c])
    return np.concatenate([a, c])


class _Model:
    """F and dF/dtheta on a fixed grid, powers precomputed, last call cached
    (scipy asks for the residual and then the Jacobian at the same point)."""

    def __init__(self, x: np.ndarray, m: int, n: int, form: str):
        self.m, self.form = m, form
        self.vp = np.vander(x, m + 1, increasing=True)
        if form == "A":
            self.vq = np.vander(np.abs(x), n + 1, increasing=True)[:, 1:]
        else:
            self.vq = np.vander(x, n + 1, increasing=True)[:, (0 if form == "C" else 1) :]
        self._key: bytes | None = None
        self._out = None

    def __call__(self, theta: np.ndarray):
        key = theta.tobytes()
        if key != self._key:
            a, b = theta[: self.m + 1], theta[self.m + 1 :]
            p = self.vp @ a
            if self.form == "A":
                q = 1.0 + self.vq @ np.abs(b)
                dq = self.vq * np.where(b >= 0, 1.0, -1.0)
            else:
                s = self.vq @ b
                if self.form == "N":
                    q, dq = 1.0 + s, self.vq
                else:
                    sign = np.where(s >= 0, 1.0, -1.0)
                    q, dq = FORM_OFFSET[self.form] + np.abs(s), self.vq * sign[:, None]
            f = p / q
            jac = np.concatenate([self.vp / q[:, None], -(f / q)[:, None] * dq], axis=1)
            self._key, self._out = key, (f, jac)
        return self._out


def _polynomial_start(x, y, m: int, n: int, form: str) -> np.ndarray:
    a = np.linalg.lstsq(np.vander(x, m + 1, increasing=True), y, rcond=None)[0]
    b = np.zeros(denominator_length(n, form))
    if form == "C":
        b[0] = 0.9
    return np.concatenate([a, b])


class _Problem:
    """The fit of one target on one grid: refinement and scoring of coefficient vectors."""

    def __init__(self, f, m: int, n: int, form: str, lo: float, hi: float, points: int):
        self.f, self.m, self.n, self.form, self.lo, self.hi = f, m, n, form, lo, hi
        self.nb = denominator_length(n, form)
        self.x = np.linspace(lo, hi, points)
        self.y = sample(f, self.x)
        self.model = _Model(self.x, m, n, form)
        self.lower = np.full(m + 1 + self.nb, -np.inf)
        if form == "A":
            self.lower[m + 1 :] = 0.0  # only |b_k| enters Q, and b >= 0 keeps it smooth

    def residual(self, theta):
        return self.model(theta)[0] - self.y

    def jacobian(self, theta):
        return self.model(theta)[1]

    def refine(self, theta0: np.ndarray, budget: int) -> np.ndarray:
        theta0 = np.asarray(theta0, dtype=np.float64).copy()
        if self.form == "A":
            theta0[self.m + 1 :] = np.abs(theta0[self.m + 1 :])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if not np.all(np.isfinite(self.residual(theta0))):
                return theta0  # a start on a pole (form N); scored as infinite
            sol = _scipy_optimize().least_squares(
                self.residual, theta0, jac=self.jacobian, bounds=(self.lower, np.inf), method="trf",
                x_scale="jac", ftol=1e-13, xtol=1e-13, gtol=1e-13, max_nfev=budget,
            )
        return sol.x

    def score(self, theta: np.ndarray) -> float:
        """Mean squared error (inf where F is not finite on the grid)."""
        a, b = split(theta, self.m)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = evaluate(self.x, a, b, self.form) - self.y
        return float(np.mean(r**2)) if np.all(np.isfinite(r)) else np.inf

    def result(self, theta: np.ndarray, starts: int) -> FitResult:
        a, b = split(theta, self.m)
        poles = real_poles(a, b, (self.lo, self.hi), self.form)
        if poles or not np.isfinite(self.score(theta)):
            # A pole-free local optimum may exist, but it is not the least-squares
            # fit; returning it silently would hide how bad it is.
            raise PoleError(
                f"the form-N least-squares fit of orders {self.m}/{self.n} has a pole in "
                f"[{self.lo}, {self.hi}] (at x = {', '.join(f'{p:.4g}' for p in poles) or '?'}); "
                "use a safe form (A, B or C) or other orders"
            )
        r = evaluate(self.x, a, b, self.form) - self.y
        return FitResult(
            numerator=a.copy(), denominator=b.copy(), form=self.form, m=self.m, n=self.n,
            interval=(self.lo, self.hi), max_error=float(np.max(np.abs(r))),
            rms_error=float(np.sqrt(np.mean(r**2))), points=len(self.x), starts=starts,
        )


def _check_common(f, m, n, form, interval, points):
    m, n = check_orders(m, n)
    form = check_form(form)
    lo, hi = check_interval(interval)
    if not callable(f):
        raise ValueError(f"f must be callable, got {type(f).__name__}")
    nb = denominator_length(n, form)
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 2 * (m + 1 + nb):
        need = 2 * (m + 1 + nb)
        raise ValueError(f"points must be an integer >= {need} for {m + 1 + nb} coefficients, got {points!r}")
    return m, n, form, lo, hi, nb


def _check_start(a0, b0, m: int, nb: int) -> np.ndarray:
    a0, b0 = np.asarray(a0, dtype=np.float64), np.asarray(b0, dtype=np.float64)
    if a0.shape != (m + 1,) or b0.shape != (nb,):
        raise ValueError(f"a start must have shapes ({m + 1},) and ({nb},), got {a0.shape} and {b0.shape}")
    return np.concatenate([a0, b0])


def least_squares(
    f,
    m: int,
    n: int,
    form: str = "A",
    interval=(-3, 3),
    *,
    points: int = DEFAULT_POINTS,
    starts=(),
    restarts: int = 4,
    random_starts: int = 4,
    seed: int = 0,
) -> FitResult:
    """Fit F = P/Q of orders (m, n) in ``form`` to ``f`` on ``interval``.

    Args:
        f: callable on a float64 NumPy array (or a torch tensor); piecewise
            functions such as ReLU are fine.
        m, n: numerator and denominator orders (>= 0).
        form: denominator form A, B, C or N (``pau.math.forms``).
        interval: (lo, hi), lo < hi.
        points: size of the uniform grid the squared error is averaged over.
        starts: extra initial (numerator, denominator) pairs in the form's layout.
        restarts: number of seeded perturbation restarts from the best point.
        random_starts: number of seeded random starting points.
        seed: seed of the random starts and perturbations.

    Returns:
        ``FitResult`` with the coefficients and the max and RMS error on the grid.

    Raises:
        ValueError: bad orders, form, interval, grid or target;
        PoleError: (form N) the best fit found has a pole in the interval.
    """
    m, n, form, lo, hi, nb = _check_common(f, m, n, form, interval, points)
    extra = [_check_start(a0, b0, m, nb) for a0, b0 in starts]
    with _single_thread():
        return _fit(_Problem(f, m, n, form, lo, hi, int(points)), extra, restarts, random_starts, seed)


def refine(f, numerator, denominator, form: str = "A", interval=(-3, 3), *, points: int = DEFAULT_POINTS,
           max_evaluations: int = 400) -> FitResult:
    """Local least-squares refinement from given coefficients (no other starts).

    Re-fitting from published coefficients shows whether they are an optimum:
    an optimum barely moves.
    """
    a = np.asarray(numerator, dtype=np.float64)
    b = np.asarray(denominator, dtype=np.float64)
    m = len(a) - 1
    n = len(b) - 1 if check_form(form) == "C" else len(b)
    m, n, form, lo, hi, nb = _check_common(f, m, n, form, interval, points)
    with _single_thread():
        problem = _Problem(f, m, n, form, lo, hi, int(points))
        return problem.result(problem.refine(np.concatenate([a, b]), max_evaluations), 1)


def _fit(problem: _Problem, extra: list, restarts: int, random_starts: int, seed: int) -> FitResult:
    x, y, m, n, nb, form = problem.x, problem.y, problem.m, problem.n, problem.nb, problem.form
    shapes = {"A": ("abs",), "B": ("abs", "plus", "signx"), "C": ("abs", "plus", "signx"), "N": ("abs", "plus")}
    candidates = [_polynomial_start(x, y, m, n, form)]
    if n:
        candidates += [_linearised(x, y, m, n, form, shape) for shape in shapes[form]]
    if n and form != "A":
        # The refined form-A fit, read as |b_1 x + ...| (equal on x > 0) and
        # mirrored (equal on x < 0): it reaches minima with a kink at 0 that
        # the linearised starts miss.
        pa = _Problem(problem.f, m, n, "A", problem.lo, problem.hi, len(x))
        fa = _fit(pa, [], 0, 0, seed)
        mirror = np.where(np.arange(1, n + 1) % 2 == 1, -1.0, 1.0)
        for b in (fa.denominator, fa.denominator * mirror):
            candidates.append(np.concatenate([fa.numerator, [0.0] if form == "C" else [], b]))
    rng = np.random.default_rng(seed)
    for _ in range(random_starts if n else 0):
        candidates.append(2.0 * rng.standard_normal(m + 1 + nb))
    candidates += extra

    # A short run from every start, then the two most promising to convergence:
    # a start that leads nowhere costs 50 evaluations, not hundreds.
    refined = [problem.refine(c, 50) for c in candidates]
    scores = [problem.score(t) for t in refined]
    finals = [problem.refine(refined[int(i)], 400) for i in np.argsort(scores, kind="stable")[:2]]
    final_scores = [problem.score(t) for t in finals]
    best = int(np.argmin(final_scores))
    theta, best_score = finals[best], final_scores[best]
    for _ in range(restarts if n else 0):
        if not np.isfinite(best_score):
            break
        trial = problem.refine(theta * (1.0 + 0.2 * rng.standard_normal(theta.shape)), 200)
        s = problem.score(trial)
        if s < best_score:
            theta, best_score = trial, s
    return problem.result(theta, len(candidates) + (restarts if n else 0))
