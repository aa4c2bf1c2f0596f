"""The PAU op, registered with ``torch.library``: works under ``torch.compile``
without graph breaks and passes ``torch.library.opcheck``.

Dispatch: CUDA tensors run the Triton kernels, CPU tensors the fused CPU kernel;
where a kernel cannot be used (no C++ compiler, no Triton, another device) the op
evaluates the reference and warns once. Every implementation, the fake ones
included, validates its arguments first, so calling ``torch.ops.pau.*`` directly
cannot read out of bounds, and returns contiguous tensors (the fakes say so).
Backward is analytic (no autograd graph of the polynomial); coefficient gradients
are summed over all elements. The backward op is itself differentiable (autograd
through the reference's analytic formulas), so second derivatives work.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import torch
from torch import Tensor
from torch.autograd import forward_ad

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


def check_alpha(alpha) -> float:
    alpha = float(alpha)
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    return alpha


def _check_op_arguments(x, numerator, denominator, form, alpha, seed, grad_out=None) -> str:
    """The registered ops' own validation (the public wrapper's checks, plus the seed
    and grad_out): returns the normalised form."""
    form, _, _, _ = check_arguments(x, numerator, denominator, form)
    if check_alpha(alpha) and seed is None:
        raise ValueError("alpha > 0 (RPAU noise) needs a seed: an int64 tensor with one element")
    if seed is not None:
        if seed.dtype != torch.int64 or seed.numel() < 1:
            raise ValueError(f"seed must be an int64 tensor with one element, got {seed.dtype} of shape "
                             f"{tuple(seed.shape)}")
        if seed.device != x.device:
            raise ValueError(f"seed is on {seed.device} but x is on {x.device}; move the seed to {x.device}")
    if grad_out is not None:
        if grad_out.shape != x.shape or grad_out.device != x.device or not grad_out.is_floating_point():
            raise ValueError(f"grad_out must be a floating-point tensor of x's shape {tuple(x.shape)} on "
                             f"{x.device}, got {tuple(grad_out.shape)} {grad_out.dtype} on {grad_out.device}")
    return form


def _reference_forward(x, numerator, denominator, form, alpha, seed):
    return pau_reference(x, numerator, denominator, form, alpha=alpha, seed=_seed_int(seed)).detach().contiguous()


def _reference_backward(grad_out, x, numerator, denominator, form, alpha, seed):
    with torch.no_grad():
        gx, ga, gb = pau_reference_backward(grad_out, x, numerator, denominator, form, alpha=alpha,
                                            seed=_seed_int(seed))
    return gx.contiguous(), ga.contiguous(), gb.contiguous()


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
    form = _check_op_arguments(x, numerator, denominator, form, alpha, seed)
    if x.device.type == "cpu" and _cpu_ready():
        return cpu_kernel.forward(x, numerator, denominator, form, _groups(numerator), alpha, seed)
    return _reference_forward(x, numerator, denominator, form, alpha, seed)


@_forward.register_kernel("cuda")
def _forward_cuda(x, numerator, denominator, form, alpha, seed):
    form = _check_op_arguments(x, numerator, denominator, form, alpha, seed)
    tk = _triton()
    if tk is None:
        return _reference_forward(x, numerator, denominator, form, alpha, seed)
    return tk.forward(x, numerator, denominator, form, _groups(numerator), alpha, seed)


@_forward.register_fake
def _forward_fake(x, numerator, denominator, form, alpha, seed):
    _check_op_arguments(x, numerator, denominator, form, alpha, seed)
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.custom_op("pau::backward", mutates_args=())
def _backward(
    grad_out: Tensor, x: Tensor, numerator: Tensor, denominator: Tensor, form: str, alpha: float, seed: Optional[Tensor]
) -> tuple[Tensor, Tensor, Tensor]:
    form = _check_op_arguments(x, numerator, denominator, form, alpha, seed, grad_out)
    if x.device.type == "cpu" and _cpu_ready():
        return cpu_kernel.backward(grad_out, x, numerator, denominator, form, _groups(numerator), alpha, seed)
    return _reference_backward(grad_out, x, numerator, denominator, form, alpha, seed)


@_backward.register_kernel("cuda")
def _backward_cuda(grad_out, x, numerator, denominator, form, alpha, seed):
    form = _check_op_arguments(x, numerator, denominator, form, alpha, seed, grad_out)
    tk = _triton()
    if tk is None:
        return _reference_backward(grad_out, x, numerator, denominator, form, alpha, seed)
    return tk.backward(grad_out, x, numerator, denominator, form, _groups(numerator), alpha, seed)


@_backward.register_fake
def _backward_fake(grad_out, x, numerator, denominator, form, alpha, seed):
    _check_op_arguments(x, numerator, denominator, form, alpha, seed, grad_out)
    # Every implementation returns fresh contiguous tensors, whatever the input strides.
    return (
        torch.empty_like(x, memory_format=torch.contiguous_format),
        torch.empty(numerator.shape, dtype=numerator.dtype, device=numerator.device),
        torch.empty(denominator.shape, dtype=denominator.dtype, device=denominator.device),
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


def _setup_backward_context(ctx, inputs, output):
    grad_out, x, numerator, denominator, form, alpha, seed = inputs
    ctx.save_for_backward(grad_out, x, numerator, denominator, seed)
    ctx.form, ctx.alpha = form, alpha


def _autograd_double_backward(ctx, grad_gx, grad_ga, grad_gb):
    # Second derivatives: the vector-Jacobian product of the analytic backward,
    # by autograd through the reference's formulas (not fused; off the training path).
    grad_out, x, numerator, denominator, seed = ctx.saved_tensors
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_() for t in (grad_out, x, numerator, denominator)]
        outputs = pau_reference_backward(*leaves, ctx.form, alpha=ctx.alpha, seed=_seed_int(seed))
        pairs = [(o, g) for o, g in zip(outputs, (grad_gx, grad_ga, grad_gb)) if g is not None and o.requires_grad]
        grads = torch.autograd.grad([o for o, _ in pairs], leaves, [g for _, g in pairs], allow_unused=True) if pairs \
            else (None,) * 4
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]
    return (*grads, None, None, None)


_backward.register_autograd(_autograd_double_backward, setup_context=_setup_backward_context)


def _forward_ad_inputs(*tensors: Tensor) -> bool:
    # Forward-mode AD (torch.autograd.forward_ad) has no formula for the fused op and
    # would drop the tangents without a word; the reference carries them. The level
    # check keeps the common case to one comparison.
    if forward_ad._current_level < 0:
        return False
    return any(forward_ad.unpack_dual(t).tangent is not None for t in tensors)


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
            element is perturbed by ``alpha * c * U(-1, 1)`` drawn from ``seed``.

    Under ``torch.func`` transforms (grad, vjp, jacrev, vmap, ...) and for inputs that
    carry forward-mode tangents (``torch.autograd.forward_ad``) the op evaluates
    ``pau_reference``, the same function in plain PyTorch operations, which every
    transform supports (the fused kernels cannot be traced by them).
    """
    form, _, _, _ = check_arguments(x, numerator, denominator, form)
    alpha = check_alpha(alpha)
    if alpha and seed is None:
        raise ValueError("RPAU noise (alpha > 0) needs a seed: an int or an int64 tensor")
    if not alpha:
        seed = None
    if torch._C._are_functorch_transforms_active() or _forward_ad_inputs(x, numerator, denominator):
        return pau_reference(x, numerator, denominator, form, alpha=alpha, seed=seed)
    if isinstance(seed, int):
        # A fill on x's device (the value travels as a kernel argument: no host-to-device
        # copy, capturable in a CUDA graph); the seed's 64 bits as a signed int64.
        seed = torch.full((1,), (seed + 2**63) % 2**64 - 2**63, dtype=torch.int64, device=x.device)
    return torch.ops.pau.forward(x, numerator, denominator, form, alpha, seed)
