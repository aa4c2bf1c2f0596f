"""What a training loop calls to train the baselines as their original papers do.

    loss = criterion(model(x), y) + regularization(model)   # APL's slope penalty
    freeze_srelu(model)                                     # SReLU warm-up: fixed units
    ...                                                     # first epochs
    init_srelu_from_batch(model, x_warm)                    # t_r from input quantiles
    freeze_srelu(model, False)                              # then learn all four
"""
from __future__ import annotations

import torch
from torch import nn

from .parameters import activation_modules
from .units import SReLU


def regularization(model: nn.Module) -> torch.Tensor:
    """Sum of the ``penalty()`` of every activation unit in ``model`` that has one
    (APL's L2 penalty on its slopes, weighted by its ``slope_penalty``).

    A scalar tensor, 0 where no unit adds a penalty (every default), on the
    device and in the dtype of the model's parameters; add it to the loss.
    """
    terms = [m.penalty() for _, m in activation_modules(model) if callable(getattr(m, "penalty", None))]
    if terms:
        total = terms[0].reshape(())
        for t in terms[1:]:
            total = total + t.reshape(())
        return total
    like = next(iter(model.parameters()), None)
    return torch.zeros((), device=like.device if like is not None else None,
                       dtype=like.dtype if like is not None and like.is_floating_point() else None)


def _srelus(model: nn.Module) -> list[tuple[str, SReLU]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SReLU)]


def freeze_srelu(model: nn.Module, frozen: bool = True) -> int:
    """Freeze (or, with ``frozen=False``, unfreeze) every SReLU in ``model``;
    returns how many there are."""
    units = _srelus(model)
    for _, unit in units:
        unit.frozen = bool(frozen)
    return len(units)


@torch.no_grad()
def init_srelu_from_batch(model: nn.Module, inputs, quantile: float = 0.9) -> dict[str, torch.Tensor]:
    """Run ``model(inputs)`` once in eval mode (batch-norm statistics untouched) and
    set every SReLU's t_r from the ``quantile`` of its own inputs, per channel
    (``SReLU.init_from_batch``). Returns {qualified name: new t_r}.

    The mode of every module is restored afterwards. Raises ``ValueError`` if the
    model has no SReLU or the forward pass does not reach one.
    """
    units = _srelus(model)
    if not units:
        raise ValueError("init_srelu_from_batch: the model has no SReLU unit (build it with activation='srelu')")
    if not 0.0 <= float(quantile) <= 1.0:  # before the forward pass
        raise ValueError(f"quantile must be in [0, 1] (e.g. 0.9), got {quantile}")
    found: dict[str, torch.Tensor] = {}

    def hook_for(name):
        def hook(unit, args):
            found[name] = unit.init_from_batch(args[0], quantile)
        return hook

    modes = {m: m.training for m in model.modules()}
    handles = [unit.register_forward_pre_hook(hook_for(name)) for name, unit in units]
    try:
        model.eval()
        model(inputs)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    missing = [name for name, _ in units if name not in found]
    if missing:
        raise ValueError(f"the forward pass did not reach the SReLU units {', '.join(missing)}")
    return found
