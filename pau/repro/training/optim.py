"""The ``optim`` and ``schedule`` groups' targets: each option's ``_target_`` builds its
optimiser or learning-rate schedule (``hydra.utils.instantiate``).

The optimisers hold two parameter groups: the network's, and the activation group
(``act_params``: PAU/RPAU coefficients, or every learnable activation parameter),
with its own lr and weight decay (Appendix A.4.1: CIFAR-10's PAU coefficients at a
constant lr without weight decay).
"""
from __future__ import annotations

import bisect
from typing import Sequence

import torch
from torch import nn

from pau.activations import split_parameters
from ..errors import UserError

ADAM_BETAS = (0.9, 0.999)


def parameter_groups(model: nn.Module, lr: float, weight_decay: float, act_params: str = "pau",
                     act_lr: float | None = None, act_weight_decay: float | None = 0.0) -> list[dict]:
    """[network group, activation group (if non-empty)] with their lr and weight decay;
    ``act_lr`` / ``act_weight_decay`` None: the network's."""
    groups = split_parameters(model)
    act = list(groups["pau"])
    if act_params == "learnable":
        act += groups["activation"]
    elif act_params == "pau":
        groups["network"] = groups["network"] + groups["activation"]
    else:
        raise UserError(f"optim.act_params must be 'pau' or 'learnable', got {act_params!r}")
    net = [p for p in groups["network"] if p.requires_grad]
    act = [p for p in act if p.requires_grad]
    out = [{"params": net, "lr": lr, "weight_decay": weight_decay, "name": "network"}]
    if act:
        out.append({"params": act, "lr": lr if act_lr is None else act_lr,
                    "weight_decay": weight_decay if act_weight_decay is None else act_weight_decay,
                    "name": "activation"})
    return out


def adam(model: nn.Module, *, lr: float, betas: Sequence[float] = ADAM_BETAS, weight_decay: float = 0.0,
         act_params: str = "pau", act_lr: float | None = None, act_weight_decay: float | None = 0.0,
         momentum: float = 0.0, nesterov: bool = False, name: str = "adam") -> torch.optim.Adam:
    """``torch.optim.Adam`` over :func:`parameter_groups` (``momentum``/``nesterov`` are SGD's: must stay unset)."""
    if momentum or nesterov:
        raise UserError("optim.momentum and optim.nesterov are SGD's (optim=sgd); Adam's are optim.betas")
    return torch.optim.Adam(parameter_groups(model, lr, weight_decay, act_params, act_lr, act_weight_decay),
                            lr=lr, betas=tuple(betas))


def sgd(model: nn.Module, *, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
        act_params: str = "pau", act_lr: float | None = None, act_weight_decay: float | None = 0.0,
        betas: Sequence[float] = ADAM_BETAS, name: str = "sgd") -> torch.optim.SGD:
    """``torch.optim.SGD`` over :func:`parameter_groups` (``betas`` are Adam's: must stay unset)."""
    if tuple(betas) != ADAM_BETAS:
        raise UserError("optim.betas are Adam's (optim=adam); SGD's are optim.momentum and optim.nesterov")
    return torch.optim.SGD(parameter_groups(model, lr, weight_decay, act_params, act_lr, act_weight_decay),
                           lr=lr, momentum=momentum, nesterov=nesterov)


class Schedule:
    """A learning-rate schedule: :meth:`factor` multiplies the initial lr in a
    (0-based) epoch. ``act``: the activation group follows it (``same``) or keeps
    its lr (``constant``); ``epochs`` is the schedule's length (``trainer.max_epochs``)."""

    def __init__(self, epochs: int, act: str = "same", gamma: float = 1.0, milestones: Sequence[int] = (),
                 name: str = ""):
        if act not in ("same", "constant"):
            raise UserError(f"schedule.act must be 'same' or 'constant', got {act!r}")
        self.epochs, self.act, self.gamma, self.milestones = epochs, act, gamma, sorted(milestones)

    def factor(self, epoch: int) -> float:
        raise NotImplementedError

    def act_factor(self, epoch: int) -> float:
        return self.factor(epoch) if self.act == "same" else 1.0


class Constant(Schedule):
    """Constant learning rates (``gamma`` and ``milestones`` unused: must stay unset)."""

    def __init__(self, epochs: int, act: str = "same", gamma: float = 1.0, milestones: Sequence[int] = (),
                 name: str = "constant"):
        if gamma != 1.0 or list(milestones):
            raise UserError("schedule.gamma and schedule.milestones do nothing with schedule=constant; "
                            "use schedule=exponential or schedule=multistep")
        super().__init__(epochs, act, gamma, milestones, name)

    def factor(self, epoch: int) -> float:
        return 1.0


class Exponential(Schedule):
    """lr × ``gamma`` ** epoch (CIFAR-10, Appendix A.4.1: 0.985)."""

    def __init__(self, epochs: int, act: str = "same", gamma: float = 1.0, milestones: Sequence[int] = (),
                 name: str = "exponential"):
        if list(milestones):
            raise UserError("schedule.milestones do nothing with schedule=exponential; use schedule=multistep")
        super().__init__(epochs, act, gamma, milestones, name)

    def factor(self, epoch: int) -> float:
        return self.gamma ** epoch


class MultiStep(Schedule):
    """lr × ``gamma`` at each milestone epoch (ImageNet, A.4.1: ×0.1 after 30, 60, 90)."""

    def factor(self, epoch: int) -> float:
        return self.gamma ** bisect.bisect_right(self.milestones, epoch)
