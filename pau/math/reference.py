"""Pure-PyTorch Padé Activation Unit: the test oracle.

F(x) = P(x) / Q(x), P(x) = sum_{j=0..m} a_j x^j, Q per form (see ``forms``).
Gradients of ``pau_reference`` come from autograd, with |z| written so that its
derivative at 0 is +1 (the library's rule), which keeps a coefficient that starts
at 0 trainable; ``pau_reference_backward`` writes the same gradients out.

Far from the origin (|x| > ``FAR``) both polynomials are evaluated in u = 1/x,
P(x)/Q(x) = x^(m-n) sign(x)^n P~(u)/Q~(u) (no sign factor for form N), with the
reversed polynomials

    P~(u) = sum_j a_(m-j) u^j
    A: Q~ = |u|^n + sum_k |b_k| |u|^(n-k)      B: Q~ = |u|^n + |S~(u)|
    C: Q~ = 0.1 |u|^n + |S~(u)|                N: Q~ = u^n + S~(u)
    S~(u) = sum_k b_k u^(n-k)   (k = 1..n; C: k = 0..n)

so no term overflows before the value does, +-inf maps to the rational's limit,
and grad_x = sign(x)^n x^(d-1) (d R - u dR/du), d = m - n, R = P~/Q~, has no
cancellation between two terms of size 1/x (Padé approximants are ratios of
polynomials, paper Eq. 1; this is the same ratio in another variable). Powers of
x and u are built by repeated multiplication, so an intermediate overflows only
where the exact result does.
"""
from __future__ import annotations

import torch

from .forms import FORM_OFFSET, check_arguments, compute_dtype
from .noise import uniform_noise

# |x| above which every backend evaluates in 1/x; below it the direct form is
# exact to float32 rounding (its cancellation grows only like |x|).
FAR = 4.0


def abs_sign_pos(z: torch.Tensor) -> torch.Tensor:
    """|z| whose autograd derivative is sign(z) with sign(0) = +1."""
    return z * _sign_pos(z).detach()


def _sign_pos(z: torch.Tensor) -> torch.Tensor:
    return torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


def _per_element(coef: torch.Tensor, x: torch.Tensor, groups: int) -> list[torch.Tensor]:
    """Coefficient k as a tensor broadcastable against x (one per group along dim 1)."""
    if coef.dim() == 1:
        return [coef[k] for k in range(coef.shape[0])]
    if groups == 1 or x.dim() < 2:
        return [coef[0, k] for k in range(coef.shape[1])]
    per_channel = coef.repeat_interleave(x.shape[1] // groups, dim=0)
    shape = [1, per_channel.shape[0]] + [1] * (x.dim() - 2)
    return [per_channel[:, k].reshape(shape) for k in range(coef.shape[1])]


def _noisy(coefs: list[torch.Tensor], z: torch.Tensor, alpha: float) -> list[torch.Tensor]:
    # Noise is a constant of the step: gradients reach the clean coefficient as
    # dF/dc evaluated at the noisy one.
    return [c + (alpha * z[..., k].to(c.dtype) * c).detach() for k, c in enumerate(coefs)]


def _prepare(x, numerator, denominator, form, alpha, seed):
    """Validated form, x in its compute dtype, coefficient lists broadcastable to x, and n."""
    form, groups, m, n = check_arguments(x, numerator, denominator, form)
    if torch.is_tensor(seed):
        seed = int(seed.reshape(-1)[0].item())
    dtype = compute_dtype(x)
    xc = x.to(dtype)
    num = _per_element(numerator.to(dtype), xc, groups)
    den = _per_element(denominator.to(dtype), xc, groups)
    if alpha and seed is not None:
        index = torch.arange(xc.numel(), device=x.device, dtype=torch.int64).reshape(xc.shape)
        z = uniform_noise(seed, index, len(num) + len(den)).to(dtype)
        num = _noisy(num, z[..., : len(num)], alpha)
        den = _noisy(den, z[..., len(num) :], alpha)
    return form, xc, num, den, n


def _horner(z: torch.Tensor, coefs: list) -> torch.Tensor:
    """sum_i coefs[i] z^(len-1-i): coefficients highest power first."""
    acc = torch.zeros_like(z) + coefs[0]
    for c in coefs[1:]:
        acc = acc * z + c
    return acc


def _power(z: torch.Tensor, k: int) -> torch.Tensor:
    out = torch.ones_like(z)
    for _ in range(k):
        out = out * z
    return out


def _signed_power(x: torch.Tensor, u: torch.Tensor, e: int) -> torch.Tensor:
    """x^e as repeated products of x (e >= 0) or of u = 1/x (e < 0)."""
    return _power(x, e) if e >= 0 else _power(u, -e)


def _split(xc: torch.Tensor):
    """(far mask, x for the direct branch, x for the 1/x branch): each branch sees
    only safe values, so neither its value nor its gradient leaks NaN through where."""
    far = xc.abs() > FAR
    return far, torch.where(far, 0.0, xc), torch.where(far, xc, 2 * FAR)


def _near_value(x, num, den, form):
    p = _horner(x, num[::-1])
    if form == "A":
        ax = abs_sign_pos(x)
        q = 1.0 + (_horner(ax, [abs_sign_pos(b) for b in den[::-1]]) * ax if den else 0.0)
    elif form in ("B", "N"):
        s = _horner(x, den[::-1]) * x if den else torch.zeros_like(x)
        q = FORM_OFFSET[form] + (abs_sign_pos(s) if form == "B" else s)
    else:
        q = FORM_OFFSET[form] + abs_sign_pos(_horner(x, den[::-1]))
    return p / q


def _far_value(x, num, den, form, n):
    u = 1.0 / x
    r = _horner(u, num)
    if form == "A":
        au = abs_sign_pos(u)
        qt = _horner(au, [1.0] + [abs_sign_pos(b) for b in den])
    elif form == "N":
        qt = _horner(u, [1.0] + den)
    else:
        st = _horner(u, den) if den else torch.zeros_like(u)
        qt = FORM_OFFSET[form] * _power(abs_sign_pos(u), n) + abs_sign_pos(st)
    r = (r / qt) * _signed_power(x, u, len(num) - 1 - n)
    return r * _sign_pos(x) if form != "N" and n % 2 else r


def pau_reference(
    x: torch.Tensor,
    numerator: torch.Tensor,
    denominator: torch.Tensor,
    form: str = "A",
    *,
    alpha: float = 0.0,
    seed: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Evaluate a PAU on ``x``; differentiable w.r.t. all three tensors.

    With ``alpha > 0`` and a ``seed``, every coefficient used for element i is
    perturbed by ``alpha * c * z_ik`` (RPAU), z from ``noise.uniform_noise``.
    float16/bfloat16 inputs are computed in float32 and returned in their dtype.
    At x = +-inf the value is the rational's limit; autograd's derivative there is
    NaN (inf * 0 in the chain rule): ``pau_reference_backward`` gives the limit.
    """
    form, xc, num, den, n = _prepare(x, numerator, denominator, form, alpha, seed)
    far, x_near, x_far = _split(xc)
    y = torch.where(far, _far_value(x_far, num, den, form, n), _near_value(x_near, num, den, form))
    return y.to(x.dtype)


def _sum_to_coefficients(per_element: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Sum an element-wise gradient over everything but its coefficient group."""
    if coef.dim() == 1 or coef.shape[0] == 1 or per_element.dim() < 2:
        return per_element.sum().to(coef.dtype)
    groups = coef.shape[0]
    per_channel = per_element.transpose(0, 1).reshape(per_element.shape[1], -1).sum(1)
    return per_channel.reshape(groups, -1).sum(1).to(coef.dtype)


def _near_grads(x, g, num, den, form):
    """Element-wise (grad_x, [dL/da_j], [dL/db_k]) of the direct form."""
    m = len(num) - 1
    p = _horner(x, num[::-1])
    dp = _horner(x, [j * num[j] for j in range(m, 0, -1)]) if m else torch.zeros_like(x)
    if form == "A":
        ax = abs_sign_pos(x)
        babs = [abs_sign_pos(b) for b in den]
        q = 1.0 + sum(babs[k] * _power(ax, k + 1) for k in range(len(den)))
        dq = _sign_pos(x) * sum((k + 1) * babs[k] * _power(ax, k) for k in range(len(den)))
        dq_db = [_sign_pos(b) * _power(ax, k + 1) for k, b in enumerate(den)]
    else:
        shift = 0 if form == "C" else 1
        s = sum(b * _power(x, k + shift) for k, b in enumerate(den)) + torch.zeros_like(x)
        ds = sum((k + shift) * b * _power(x, k + shift - 1) for k, b in enumerate(den) if k + shift > 0)
        sg = torch.ones_like(x) if form == "N" else _sign_pos(s)
        q = FORM_OFFSET[form] + (s if form == "N" else abs_sign_pos(s))
        dq = sg * ds
        dq_db = [sg * _power(x, k + shift) for k in range(len(den))]
    w = g / q
    v = -w * p / q
    return w * dp + v * dq, [w * _power(x, j) for j in range(m + 1)], [v * d for d in dq_db]


def _far_grads(x, g, num, den, form, n):
    """Element-wise (grad_x, [dL/da_j], [dL/db_k]) evaluated in u = 1/x (module docstring)."""
    m = len(num) - 1
    d = m - n
    u = 1.0 / x
    pt = _horner(u, num)
    dpt = _horner(u, [(m - i) * num[i] for i in range(m)]) if m else torch.zeros_like(u)
    if form == "A":
        au, su = abs_sign_pos(u), _sign_pos(u)
        coefs = [1.0] + [abs_sign_pos(b) for b in den]
        qt = _horner(au, coefs)
        dqt = su * _horner(au, [(n - i) * coefs[i] for i in range(n)]) if n else torch.zeros_like(u)
        tau = None
    elif form == "N":
        coefs = [1.0] + list(den)
        qt = _horner(u, coefs)
        dqt = _horner(u, [(n - i) * coefs[i] for i in range(n)]) if n else torch.zeros_like(u)
        tau = torch.ones_like(u)
    else:
        lead = len(den) - 1  # S~ has degree n - 1 (B) or n (C)
        st = _horner(u, den) if den else torch.zeros_like(u)
        dst = _horner(u, [(lead - i) * den[i] for i in range(lead)]) if lead > 0 else torch.zeros_like(u)
        tau = _sign_pos(st)
        au, su = abs_sign_pos(u), _sign_pos(u)
        off = FORM_OFFSET[form]
        qt = off * _power(au, n) + abs_sign_pos(st)
        dqt = tau * dst + (off * n * su * _power(au, n - 1) if n else 0.0)
    r = pt / qt
    dr = (dpt - r * dqt) / qt
    sigma = _sign_pos(x) if form != "N" and n % 2 else torch.ones_like(x)
    gs = g * sigma
    grad_x = gs * _signed_power(x, u, d - 1) * (d * r - u * dr)
    grad_a = [gs * _signed_power(x, u, j - n) / qt for j in range(m + 1)]
    # dF/db_k = -F/Q dQ/db_k with F/Q = sigma R x^(d-n) / Q~ and dQ/db_k ~ |x|^k or x^k.
    first = 0 if form == "C" else 1
    grad_b = []
    for i, b in enumerate(den):
        k = i + first
        part = -gs * r * _signed_power(x, u, d - n + k) / qt
        if form == "A":
            part = part * _sign_pos(b) * _power(_sign_pos(x), n - k)
        else:
            part = part * tau
        grad_b.append(part)
    return grad_x, grad_a, grad_b


def pau_reference_backward(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    numerator: torch.Tensor,
    denominator: torch.Tensor,
    form: str = "A",
    *,
    alpha: float = 0.0,
    seed: int | torch.Tensor | None = None,
):
    """The analytic gradients of the paper's Section 2.2 (for Eq. 1's rational), in plain PyTorch.

    dF/dx = P'/Q - P Q'/Q^2, dF/da_j = x^j/Q, dF/db_k = -P/Q^2 dQ/db_k, with
    dQ/db_k per form: A sign(b_k)|x|^k; B, C sign(s) x^k; N x^k (sign(0) := +1);
    for |x| > FAR the same quantities in u = 1/x (module docstring).
    Returns (grad_x, grad_numerator, grad_denominator). Built from differentiable
    operations, so autograd through it gives the op's second derivatives.
    """
    form, xc, num, den, n = _prepare(x, numerator, denominator, form, alpha, seed)
    g = grad_out.to(xc.dtype)
    far, x_near, x_far = _split(xc)
    gx_n, ga_n, gb_n = _near_grads(x_near, g, num, den, form)
    gx_f, ga_f, gb_f = _far_grads(x_far, g, num, den, form, n)
    pick = lambda f, nr: torch.where(far, f, nr)  # noqa: E731
    grad_x = pick(gx_f, gx_n).to(x.dtype)
    grad_num = [_sum_to_coefficients(pick(f, nr), numerator) for f, nr in zip(ga_f, ga_n)]
    grad_den = [_sum_to_coefficients(pick(f, nr), denominator) for f, nr in zip(gb_f, gb_n)]

    def stack(parts, like):
        return (torch.stack(parts, -1) if parts else torch.zeros_like(like)).reshape(like.shape)

    return grad_x, stack(grad_num, numerator), stack(grad_den, denominator)
