"""Which channels of a network belong to which convolution filters.

The network is traced with ``torch.fx`` (activation units stay leaves) and every
tensor's channel dimension (dim 1) is labelled: a channel carries the set of
``(convolution, filter)`` pairs it is computed from. Labels start at every
ordinary convolution, pass unchanged through batch norms, activations, pooling and
depthwise convolutions, merge where channels combine (a residual sum, Maxout's
pieces), are concatenated by ``torch.cat`` and repeated by ``flatten`` (one per
spatial position, for the linear layer that follows).

Filters whose labels only ever meet labels of their own convolution form *units*
(one filter, or the k pieces of one Maxout output) that can be removed for real:
the convolution, the channel-wise layers after it and every consumer's inputs
shrink. A convolution whose channels meet another convolution's (a residual sum)
or reach a layer that cannot shrink (a grouped convolution, a grouped PAU, the
network output, an operation the analysis does not know) is *tied*: it keeps its
shape and its pruned filters are masked.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from pau.activations import is_activation
from pau.activations.units import APL, Maxout, SReLU
from pau.modules import PAU

Label = tuple[str, int]
NONE: frozenset = frozenset()

# Per-channel parameters of the activation units that learn one set per channel:
# parameter name -> the dimension that indexes channels.
CHANNEL_PARAMS: dict[type, dict[str, int]] = {
    APL: {"slopes": 1, "offsets": 1},
    SReLU: {"t_left": 0, "a_left": 0, "t_right": 0, "a_right": 0},
    nn.PReLU: {"weight": 0},
}
CHANNEL_COUNT_ATTR = {APL: "num_channels", SReLU: "num_channels", nn.PReLU: "num_parameters"}

_ELEMENTWISE_BINARY = {operator.add, operator.iadd, operator.sub, operator.mul, operator.imul,
                       torch.add, torch.sub, torch.mul, "add", "add_", "sub", "mul", "mul_"}
# Operations that keep every channel where it is (shape[1] unchanged, channels independent).
_PASSTHROUGH = {
    "relu", "relu_", "relu6", "sigmoid", "tanh", "gelu", "silu", "leaky_relu", "hardtanh", "elu", "celu",
    "dropout", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "contiguous", "clone", "detach", "float", "to", "type_as",
}
_PASSTHROUGH_MODULES = (
    nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d, nn.Dropout, nn.Dropout2d, nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU,
    nn.RReLU, nn.ELU, nn.CELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.Hardswish,
)


@dataclass
class ModuleUse:
    """One call of a module with parameters, and the labels of its input (and output) channels.

    kind: ``conv`` (groups = 1), ``depthwise`` (groups = input channels), ``grouped``
    (other groups; never shrinks), ``linear``, ``norm`` (batch norm) or ``channelwise``
    (an activation unit with per-channel parameters).
    """

    name: str
    kind: str
    in_labels: list[frozenset]
    out_labels: list[frozenset] | None = None


@dataclass
class ConvInfo:
    """A convolution whose filters are pruned.

    units: groups of filter indices removed (or masked) together, in filter order.
    structural: True if its units can be removed for real, False if they are masked.
    tied_with: other convolutions whose channels its channels meet (when tied).
    reason: why it is masked ('' when structural).
    """

    name: str
    filters: int
    units: list[tuple[int, ...]]
    structural: bool
    tied_with: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class ChannelGraph:
    convs: dict[str, ConvInfo]  # in forward order
    uses: list[ModuleUse]

    @property
    def structural(self) -> list[str]:
        return [n for n, c in self.convs.items() if c.structural]

    @property
    def masked(self) -> list[str]:
        return [n for n, c in self.convs.items() if not c.structural]


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return is_activation(m) or super().is_leaf_module(m, qualname)


class _UnionFind:
    def __init__(self):
        self.parent: dict[Label, Label] = {}

    def find(self, x: Label) -> Label:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, labels: Iterable[Label]) -> None:
        labels = list(labels)
        for other in labels[1:]:
            a, b = self.find(labels[0]), self.find(other)
            if a != b:
                self.parent[b] = a


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    shape = getattr(meta, "shape", None)
    return tuple(shape) if shape is not None else None


def _channels(node) -> int | None:
    shape = _shape(node)
    return shape[1] if shape is not None and len(shape) >= 2 else None


def _target_name(node: fx.Node) -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def _arg(node: fx.Node, index: int, key: str, default):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


def analyze(model: nn.Module, input_shape: Sequence[int] | None = None) -> ChannelGraph:
    """Trace ``model`` on inputs of ``input_shape`` (C, H, W; default
    ``model.input_size``) and find its convolutions' prunable units."""
    if input_shape is None:
        input_shape = getattr(model, "input_size", None)
        if input_shape is None:
            raise ValueError("give input_shape (C, H, W): the model has no input_size")
    graph = _Tracer().trace(model)
    gm = fx.GraphModule(model, graph)
    training = model.training
    model.eval()  # batch norm on a 1x1 map needs running statistics
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            ShapeProp(gm).propagate(torch.zeros(2, *input_shape, device=device))
    finally:
        model.train(training)

    labels: dict[fx.Node, list[frozenset] | None] = {}
    uf = _UnionFind()
    pinned: set[Label] = set()
    pin_reasons: dict[Label, str] = {}
    producers: dict[str, int] = {}
    grouped: dict[str, str] = {}
    uses: list[ModuleUse] = []

    def pin(label_lists, reason: str):
        for sets in label_lists:
            for s in sets or ():
                for label in s:
                    if label not in pinned:
                        pinned.add(label)
                        pin_reasons[label] = reason

    def tensor_inputs(node):
        return [a for a in node.all_input_nodes if labels.get(a) is not None]

    def merge(sets: list[frozenset]) -> frozenset:
        out = frozenset().union(*sets)
        if len(out) > 1:
            uf.union(out)
        return out

    def fresh(node):
        c = _channels(node)
        return None if c is None else [NONE] * c

    for node in graph.nodes:
        out: list[frozenset] | None
        if node.op == "placeholder" or node.op == "get_attr":
            out = fresh(node)
        elif node.op == "output":
            pin([labels.get(a) for a in node.all_input_nodes], "reaches the network output")
            continue
        elif node.op == "call_module":
            mod = model.get_submodule(node.target)
            src = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
            inp = labels.get(src) if src is not None else None
            name = node.target
            if isinstance(mod, nn.modules.conv._ConvNd) and not isinstance(mod, nn.modules.conv._ConvTransposeNd):
                if mod.groups == 1:
                    out = [frozenset({(name, j)}) for j in range(mod.out_channels)]
                    producers[name] = mod.out_channels
                    uses.append(ModuleUse(name, "conv", inp))
                elif mod.groups == mod.in_channels:
                    m = mod.out_channels // mod.in_channels
                    out = [inp[j // m] for j in range(mod.out_channels)]
                    uses.append(ModuleUse(name, "depthwise", inp, out))
                else:
                    pin([inp], f"feeds the grouped convolution {name}")
                    out = [frozenset({(name, j)}) for j in range(mod.out_channels)]
                    producers[name] = mod.out_channels
                    grouped[name] = "grouped convolution"
                    uses.append(ModuleUse(name, "grouped", inp))
            elif isinstance(mod, nn.Linear):
                if inp is not None and len(_shape(src)) == 2:
                    uses.append(ModuleUse(name, "linear", inp))
                else:  # features along the last dimension, not dim 1: left whole
                    pin([inp], f"feeds {name} on more than 2 dimensions")
                out = fresh(node)
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
                uses.append(ModuleUse(name, "norm", inp))
                out = inp
            elif isinstance(mod, Maxout):
                k = mod.inputs_per_output
                out = [merge(inp[c * k:(c + 1) * k]) for c in range(len(inp) // k)]
            elif isinstance(mod, PAU) and mod.groups > 1:
                pin([inp], f"feeds the grouped PAU {name}")
                out = inp
            elif type(mod) in CHANNEL_PARAMS and getattr(mod, CHANNEL_COUNT_ATTR[type(mod)]) > 1:
                uses.append(ModuleUse(name, "channelwise", inp))
                out = inp
            elif isinstance(mod, nn.Flatten) and inp is not None and mod.start_dim == 1 and mod.end_dim == -1:
                spatial = math.prod(_shape(src)[2:])
                out = [s for s in inp for _ in range(spatial)]
            elif (
                inp is not None
                and (isinstance(mod, _PASSTHROUGH_MODULES) or is_activation(mod))
                and not getattr(mod, "per_channel", False)
                and _channels(node) == len(inp)
            ):
                out = inp
            else:
                pin([labels.get(a) for a in node.all_input_nodes], f"feeds {name} ({type(mod).__name__})")
                out = fresh(node)
        else:  # call_function / call_method
            fn = node.target
            fname = _target_name(node)
            tins = tensor_inputs(node)
            if _channels(node) is None:
                out = None  # a size, a shape, a scalar
            elif fn in _ELEMENTWISE_BINARY:
                operands = [labels[a] for a in tins if _channels(a) == _channels(node)]
                if not operands:
                    out = fresh(node)
                else:
                    out = []
                    for c in range(_channels(node)):
                        sets = [o[c] for o in operands]
                        if len(sets) > 1 and any(not s for s in sets) and any(sets):
                            pin([sets], f"meets a channel of no convolution at {node.name}")
                        out.append(merge(sets))
            elif fname == "cat":
                tensors = _arg(node, 0, "tensors", [])
                dim = _arg(node, 1, "dim", 0)
                if dim in (1, -3) and all(labels.get(t) is not None for t in tensors):
                    out = [s for t in tensors for s in labels[t]]
                else:
                    pin([labels.get(t) for t in tins], f"concatenated along dim {dim} at {node.name}")
                    out = fresh(node)
            elif fname in ("flatten", "view", "reshape") and tins:
                src = tins[0]
                shape, new_shape = _shape(src), _shape(node)
                if fname == "flatten":
                    start, end = _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1)
                    whole = start == 1 and end in (-1, len(shape) - 1)
                else:  # x.view(x.size(0), -1): the same as flatten(1)
                    whole = new_shape == (shape[0], math.prod(shape[1:]))
                if whole:
                    spatial = math.prod(shape[2:])
                    out = [s for s in labels[src] for _ in range(spatial)]
                else:
                    pin([labels[src]], f"flattened at {node.name}")
                    out = fresh(node)
            elif fname == "repeat_interleave" and tins and _arg(node, 2, "dim", None) in (1, -3) \
                    and isinstance(_arg(node, 1, "repeats", None), int):
                k = _arg(node, 1, "repeats", 1)
                out = [s for s in labels[tins[0]] for _ in range(k)]
            elif fname in _PASSTHROUGH and len(tins) == 1 and _channels(tins[0]) == _channels(node):
                out = labels[tins[0]]
            else:
                pin([labels.get(a) for a in tins], f"feeds {fname} at {node.name}")
                out = fresh(node)
        labels[node] = out

    # A module called at several places would need one slicing for all of them.
    seen: dict[str, int] = {}
    for use in uses:
        seen[use.name] = seen.get(use.name, 0) + 1
    for use in uses:
        if seen[use.name] > 1:
            pin([use.in_labels], f"{use.name} is called more than once")

    classes: dict[Label, set[Label]] = {}
    for name, n in producers.items():
        for j in range(n):
            classes.setdefault(uf.find((name, j)), set()).add((name, j))

    convs: dict[str, ConvInfo] = {}
    for name, n in producers.items():
        roots = dict.fromkeys(uf.find((name, j)) for j in range(n))
        members = [classes[r] for r in roots]
        others = sorted({c for m in members for c, _ in m if c != name})
        pins = [pin_reasons[label] for m in members for label in m if label in pinned]
        units = sorted(tuple(sorted(j for c, j in m if c == name)) for m in members)
        reason = grouped.get(name, "")
        if not reason and others:
            more = f" (+{len(others) - 3} more)" if len(others) > 3 else ""
            reason = "channels tied to " + ", ".join(others[:3]) + more
        if not reason and pins:
            reason = pins[0]
        convs[name] = ConvInfo(name, n, units, structural=not reason, tied_with=others, reason=reason)
    return ChannelGraph(convs=convs, uses=uses)
