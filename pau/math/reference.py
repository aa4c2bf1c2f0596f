"""Pure-PyTorch Padé Activation Unit: the test oracle.

F(x) = P(x) / Q(x), P(x) = sum_{j=0..m} a_j x^j, Q per form (see ``forms``).
Gradients come from autograd, with |z| written so that its derivative at 0 is
+1 (the library's rule), which keeps a coefficient that starts at 0 trainable.
"""
from __future__ import annotations

import torch

from .forms import FORM_OFFSET, check_arguments, compute_dtype
from .noise import uniform_noise


def abs_sign_pos(z: torch.Tensor) -> torch.Tensor:
    """|z| whose autograd derivative is sign(z) with sign(0) = +1."""
    sign = torch.where(z >= 0, 1.0, -1.0).to(z.dtype)
    return z * sign.detach()


def _per_element(coef: torch.Tensor, x: torch.Tensor, groups: int) -> list[torch.Tensor]:
    """Coefficient k as a tensor broadcastable against x (one per group along dim 1)."""
    if coef.dim() == 1:
        return [coef[k] for k in range(coef.shape[0])]
    per_channel = coef.repeat_interleave(x.shape[1] // groups, dim=0) if groups > 1 else coef.expand(
        x.shape[1] if x.dim() > 1 else 1, -1
    )
    shape = [1, per_channel.shape[0]] + [1] * (x.dim() - 2) if x.dim() > 1 else [1]
    return [per_channel[:, k].reshape(shape) for k in range(coef.shape[1])]


def _noisy(coefs: list[torch.Tensor], z: torch.Tensor, alpha: float) -> list[torch.Tensor]:
    # Noise is a constant of the step: gradients reach the clean coefficient as
    # dF/dc evaluated at the noisy one.
    out = []
    for k, c in enumerate(coefs):
        zk = z[..., k].to(c.dtype if c.dtype != torch.float16 and c.dtype != torch.bfloat16 else torch.float32)
        out.append(c + (alpha * zk * c).detach())
    return out


def _prepare(x, numerator, denominator, form, alpha, seed):
    """Validated form, x in its compute dtype, and coefficient lists broadcastable to x."""
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
    return form, xc, num, den


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
    """
    form, xc, num, den = _prepare(x, numerator, denominator, form, alpha, seed)
    p = sum(a * xc**j for j, a in enumerate(num))
    if form == "A":
        ax = abs_sign_pos(xc)
        q = 1.0 + sum(abs_sign_pos(b) * ax ** (k + 1) for k, b in enumerate(den))
    elif form in ("B", "N"):
        s = sum(b * xc ** (k + 1) for k, b in enumerate(den)) if den else torch.zeros_like(xc)
        q = FORM_OFFSET[form] + (abs_sign_pos(s) if form == "B" else s)
    else:  # C: b_0 .. b_n inside the absolute value
        s = sum(b * xc**k for k, b in enumerate(den))
        q = FORM_OFFSET[form] + abs_sign_pos(s)
    if not torch.is_tensor(p):
        p = torch.full_like(xc, float(p))
    return (p / q).to(x.dtype)


def _sign_pos(z: torch.Tensor) -> torch.Tensor:
    return torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


def _sum_to_coefficients(per_element: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Sum an element-wise gradient over everything but its coefficient group."""
    if coef.dim() == 1:
        return per_element.sum().to(coef.dtype)
    groups = coef.shape[0]
    if per_element.dim() < 2:
        return per_element.sum().reshape(1).to(coef.dtype)
    per_channel = per_element.transpose(0, 1).reshape(per_element.shape[1], -1).sum(1)
    return per_channel.reshape(groups, -1).sum(1).to(coef.dtype)


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
    """The analytic gradients of SPEC §1, written out in plain PyTorch (no autograd).

    dF/dx = P'/Q - P Q'/Q^2, dF/da_j = x^j/Q, dF/db_k = -P/Q^2 dQ/db_k, with
    dQ/db_k per form: A sign(b_k)|x|^k; B, C sign(s) x^k; N x^k (sign(0) := +1).
    Returns (grad_x, grad_numerator, grad_denominator).
    """
    with torch.no_grad():
        form, xc, num, den = _prepare(x, numerator, denominator, form, alpha, seed)
        g = grad_out.to(xc.dtype)
        p = sum(a * xc**j for j, a in enumerate(num))
        dp = sum(j * a * xc ** (j - 1) for j, a in enumerate(num) if j > 0)
        if form == "A":
            ax = xc.abs()
            q = 1.0 + sum(b.abs() * ax ** (k + 1) for k, b in enumerate(den))
            dq = _sign_pos(xc) * sum((k + 1) * b.abs() * ax**k for k, b in enumerate(den))
            dq_db = [_sign_pos(b) * ax ** (k + 1) for k, b in enumerate(den)]
        else:
            shift = 0 if form == "C" else 1
            s = sum(b * xc ** (k + shift) for k, b in enumerate(den))
            ds = sum((k + shift) * b * xc ** (k + shift - 1) for k, b in enumerate(den) if k + shift > 0)
            sg = torch.ones_like(xc) if form == "N" else _sign_pos(s + torch.zeros_like(xc))
            q = (1.0 + s) if form == "N" else FORM_OFFSET[form] + (s + torch.zeros_like(xc)).abs()
            dq = sg * ds
            dq_db = [sg * xc ** (k + shift) for k in range(len(den))]
        p, dp, dq = (t + torch.zeros_like(xc) for t in (p, dp, dq))
        w = g / q
        v = -w * p / q
        grad_x = (w * dp + v * dq).to(x.dtype)
        grad_num = [_sum_to_coefficients(w * xc**j, numerator) for j in range(len(num))]
        grad_den = [_sum_to_coefficients(v * d, denominator) for d in dq_db]
        stack = lambda parts, like: (torch.stack(parts, -1) if parts else torch.zeros_like(like)).reshape(like.shape)  # noqa: E731
        return grad_x, stack(grad_num, numerator), stack(grad_den, denominator)
