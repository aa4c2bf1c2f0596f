"""The PAU op, registered with ``torch.library``: works under ``torch.compile``
without graph breaks and passes ``torch.library.opcheck``.

Dispatch: CUDA tensors run the Triton kernels, CPU tensors the fused CPU kernel;
where a kernel cannot be used (no C++ compiler, no Triton, another device) the op
evaluates the reference and warns once. Backward is analytic (no autograd graph of
the polynomial); coefficient gradients are summed over all elements.
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch import Tensor

from .kernels import cpu as cpu_kernel
from .math.forms import check_arguments
from .math.reference import pau_reference, pau_reference_backward

_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _groups(numerator: Tensor) -> int:
    return numerator.shape[0] if numerator.dim() == 2 else 1


def _seed_int(seed: Optional[Tensor]) -> Optional[int]:
    return None if seed is None else int(seed.reshape(-1)[0].item())


def _reference_backward(grad_out, x, numerator, denominator, form, alpha, seed):
    gx, ga, gb = pau_reference_backward(grad_out, x, numerator, denominator, form, alpha=alpha, seed=seed)
    return gx.contiguous(), ga, gb


def _triton():
    try:
        from .kernels import triton_pau
    except Exception as exc:  # triton missing or broken
        _warn_once("triton", f"Triton is unavailable ({exc}); PAU runs the slow reference on this device")
        return None
    return triton_pau


def _cpu_ready() -> bool:
    if cpu_kernel.available():
        return True
    _warn_once(
        "cpu",
        "the fused PAU CPU kernel could not be built "
        f"({cpu_kernel.unavailable_reason()}); falling back to the slower reference implementation",
    )
    return False


@torch.library.custom_op("pau::forward", mutates_args=())
def _forward(x: Tensor, numerator: Tensor, denominator: Tensor, form: str, alpha: float, seed: Optional[Tensor]) -> Tensor:
    if x.device.type == "cpu" and _cpu_ready():
        return cpu_kernel.forward(x, numerator, denominator, form, _groups(numerator), alpha, seed)
    return pau_reference(x, numerator, denominator, form, alpha=alpha, seed=_seed_int(seed)).detach()


@_forward.register_kernel("cuda")
def _forward_cuda(x, numerator, denominator, form, alpha, seed):
    tk = _triton()
    if tk is None:
        return pau_reference(x, numerator, denominator, form, alpha=alpha, seed=_seed_int(seed)).detach()
    return tk.forward(x, numerator, denominator, form, _groups(numerator), alpha, seed)


@_forward.register_fake
def _forward_fake(x, numerator, denominator, form, alpha, seed):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.custom_op("pau::backward", mutates_args=())
def _backward(
    grad_out: Tensor, x: Tensor, numerator: Tensor, denominator: Tensor, form: str, alpha: float, seed: Optional[Tensor]
) -> tuple[Tensor, Tensor, Tensor]:
    if x.device.type == "cpu" and _cpu_ready():
        return cpu_kernel.backward(grad_out, x, numerator, denominator, form, _groups(numerator), alpha, seed)
    return _reference_backward(grad_out, x, numerator, denominator, form, alpha, seed)


@_backward.register_kernel("cuda")
def _backward_cuda(grad_out, x, numerator, denominator, form, alpha, seed):
    tk = _triton()
    if tk is None:
        return _reference_backward(grad_out, x, numerator, denominator, form, alpha, seed)
    return tk.backward(grad_out, x, numerator, denominator, form, _groups(numerator), alpha, seed)


@_backward.register_fake
def _backward_fake(grad_out, x, numerator, denominator, form, alpha, seed):
    return (
        torch.empty_like(x, memory_format=torch.contiguous_format),
        torch.empty_like(numerator),
        torch.empty_like(denominator),
    )


def _setup_context(ctx, inputs, output):
    x, numerator, denominator, form, alpha, seed = inputs
    ctx.save_for_backward(x, numerator, denominator, seed)
    ctx.form, ctx.alpha = form, alpha


def _autograd_backward(ctx, grad_out):
    x, numerator, denominator, seed = ctx.saved_tensors
    gx, ga, gb = torch.ops.pau.backward(grad_out, x, numerator, denominator, ctx.form, ctx.alpha, seed)
    return gx, ga, gb, None, None, None


_forward.register_autograd(_autograd_backward, setup_context=_setup_context)


def pau(
    x: Tensor,
    numerator: Tensor,
    denominator: Tensor,
    form: str = "A",
    *,
    alpha: float = 0.0,
    seed: Tensor | int | None = None,
) -> Tensor:
    """Evaluate a Padé Activation Unit with the fused kernels.

    Args:
        x: input of any shape; float16/bfloat16 are computed in float32.
        numerator: ``(m+1,)`` coefficients a_0..a_m, or ``(G, m+1)`` for G groups of
            channels along dim 1.
        denominator: ``(n,)`` coefficients b_1..b_n (``(n+1,)`` b_0..b_n for form C),
            or ``(G, ...)``.
        form: denominator form A, B, C or N (see ``pau.math.forms``).
        alpha, seed: RPAU noise; with ``alpha > 0`` each coefficient used for an
            element is perturbed by ``alpha * c * U[-1, 1)`` drawn from ``seed``.
    """
    form, _, _, _ = check_arguments(x, numerator, denominator, form)
    alpha = float(alpha)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if alpha and seed is None:
        raise ValueError("RPAU noise (alpha > 0) needs a seed: an int or an int64 tensor")
    if isinstance(seed, int):
        seed = torch.tensor([seed], dtype=torch.int64, device=x.device)
    if not alpha:
        seed = None
    return torch.ops.pau.forward(x, numerator, denominator, form, alpha, seed)
