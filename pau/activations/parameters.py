"""Finding activation units and their parameters in a network (for optimiser groups)."""
from __future__ import annotations

from torch import nn

from ..modules import PAU
from .registry import registered_classes


def is_activation(module: nn.Module) -> bool:
    """True for an instance of any registered activation class (PAU, RPAU included)."""
    return isinstance(module, registered_classes())


def is_learnable_activation(module: nn.Module) -> bool:
    """True for an activation unit with trainable parameters (PAU, RPAU, PReLU, APL, ...)."""
    return is_activation(module) and any(p.requires_grad for p in module.parameters())


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, unit) for every activation site of ``model``, in module order."""
    return [(name, m) for name, m in model.named_modules() if is_activation(m)]


def count_activation_sites(model: nn.Module) -> int:
    return len(activation_modules(model))


def _unique(params):
    seen, out = set(), []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def pau_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Coefficients of every PAU and RPAU in ``model``."""
    return _unique(p for m in model.modules() if isinstance(m, PAU) for p in m.parameters())


def activation_parameters(model: nn.Module, include_pau: bool = True) -> list[nn.Parameter]:
    """Parameters of learnable activation units; without PAU/RPAU if ``include_pau`` is False."""
    return _unique(
        p
        for m in model.modules()
        if is_activation(m) and (include_pau or not isinstance(m, PAU))
        for p in m.parameters()
    )


def split_parameters(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Disjoint groups covering every parameter once: ``pau`` (PAU/RPAU coefficients),
    ``activation`` (other learnable units) and ``network`` (everything else)."""
    pau = pau_parameters(model)
    other = activation_parameters(model, include_pau=False)
    taken = {id(p) for p in pau} | {id(p) for p in other}
    network = [p for p in _unique(model.parameters()) if id(p) not in taken]
    return {"pau": pau, "activation": other, "network": network}
