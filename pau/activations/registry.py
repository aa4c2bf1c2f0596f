"""Name -> activation class registry and the factories networks build their units with."""
from __future__ import annotations

import functools
from typing import Any, Callable

from torch import nn

from ..modules import PAU, RPAU
from .units import APL, SLAF, Maxout, Mixture, SReLU

# The 15 units the paper compares (Appendix A.2). Keyword arguments go to the class:
# lrelu(negative_slope), rrelu(lower, upper), elu/celu(alpha), prelu(init),
# maxout(pieces), mixture(init), slaf(degree, init), apl(hinges, slope_penalty),
# srelu(t_left, a_left, t_right, a_right, frozen), pau(m, n, form, init), rpau(alpha, m, n, form, init).
_ACT_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "lrelu": nn.LeakyReLU,  # slope 0.01 by default, as in the paper
    "rrelu": nn.RReLU,  # slope ~ U(1/8, 1/3) in training, the mean at test
    "elu": nn.ELU,
    "celu": nn.CELU,
    "swish": nn.SiLU,  # x * sigmoid(x)
    "prelu": nn.PReLU,  # one learnable slope per layer
    "maxout": Maxout,
    "mixture": Mixture,
    "slaf": SLAF,
    "apl": APL,
    "srelu": SReLU,
    "pau": PAU,
    "rpau": RPAU,
}


def list_activations() -> list[str]:
    """Registered activation names, in the paper's order."""
    return list(_ACT_LAYERS)


def get_act_layer(name: str) -> type[nn.Module]:
    """The class registered under ``name`` (case-insensitive)."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _ACT_LAYERS:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(_ACT_LAYERS)}")
    return _ACT_LAYERS[key]


def _unwrap(layer) -> tuple[Any, dict]:
    """The underlying class of a (possibly nested) functools.partial, with its keywords."""
    keywords: dict = {}
    while isinstance(layer, functools.partial):
        keywords = {**layer.keywords, **keywords}
        layer = layer.func
    return layer, keywords


class ActivationFactory:
    """Builds a fresh activation unit on every call, so no two sites share parameters.

    ``factory(num_channels=C)`` builds a unit whose output has C channels; units that
    learn per-channel parameters (``per_channel = True``, e.g. APL, SReLU) receive C,
    the others ignore it. ``inputs_per_output`` tells a network how many input
    channels the unit consumes per output channel (Maxout: ``pieces``; else 1).
    """

    def __init__(self, layer: Callable[..., nn.Module], **kwargs):
        if not callable(layer):
            raise TypeError(f"an activation factory needs a class or callable, got {layer!r}")
        self.layer = layer
        self.kwargs = kwargs
        base, keywords = _unwrap(layer)
        self._base = base
        self._all_kwargs = {**keywords, **kwargs}

    @property
    def per_channel(self) -> bool:
        return bool(getattr(self._base, "per_channel", False))

    @property
    def inputs_per_output(self) -> int:
        hook = getattr(self._base, "inputs_per_output_for", None)
        if hook is not None:
            return int(hook(**self._all_kwargs))
        value = getattr(self._base, "inputs_per_output", 1)
        return int(value) if isinstance(value, int) else 1

    def __call__(self, num_channels: int | None = None) -> nn.Module:
        if self.per_channel:
            if num_channels is None:
                raise TypeError(f"{self.name} learns per-channel parameters; call the factory with num_channels=C")
            return self.layer(num_channels=num_channels, **self.kwargs)
        return self.layer(**self.kwargs)

    @property
    def name(self) -> str:
        for key, cls in _ACT_LAYERS.items():
            if cls is self._base:
                return key
        return getattr(self._base, "__name__", repr(self._base))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._all_kwargs.items())
        return f"ActivationFactory({self.name}{', ' + args if args else ''})"


def as_act_factory(activation, **kwargs) -> ActivationFactory:
    """An ``ActivationFactory`` from a registered name, a class, a partial or a factory."""
    if isinstance(activation, ActivationFactory):
        if kwargs:
            raise TypeError("keyword arguments cannot be added to an existing ActivationFactory")
        return activation
    if isinstance(activation, str):
        return ActivationFactory(get_act_layer(activation), **kwargs)
    return ActivationFactory(activation, **kwargs)


def create_act_layer(name, num_channels: int | None = None, **kwargs) -> nn.Module:
    """One activation unit; ``num_channels`` is required by per-channel units only."""
    return as_act_factory(name, **kwargs)(num_channels=num_channels)


def inputs_per_output(activation) -> int:
    """Input channels per output channel of a unit, its class, partial or factory."""
    if isinstance(activation, nn.Module):
        value = getattr(activation, "inputs_per_output", 1)
        return int(value) if isinstance(value, int) else 1
    return as_act_factory(activation).inputs_per_output


def registered_classes() -> tuple[type[nn.Module], ...]:
    return tuple(dict.fromkeys(_ACT_LAYERS.values()))
