"""Choosing filters, removing or masking them, and measuring the result.

A pruning *plan* maps each convolution's name to the filters it has lost, as
indices of the dense network's filters. Plans are applied to a dense network of
the same architecture (usually one holding the initial weights, so the pruned
network starts from its lottery-ticket initialisation):

    graph = analyze(dense)                      # once per architecture
    plan = select_filters(trained, graph, {}, 20)   # 20% of every convolution
    ticket = apply_plan(copy_of_initial_dense, graph, plan)
"""
from __future__ import annotations

import copy
import math
import time
from typing import Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .graph import CHANNEL_COUNT_ATTR, CHANNEL_PARAMS, ChannelGraph

Plan = dict[str, list[int]]
CRITERIA = ("sum", "l1")


# --------------------------------------------------------------------------- selection
def filter_scores(weight: torch.Tensor, criterion: str = "sum") -> torch.Tensor:
    """One score per filter (dim 0): the sum of its weights (the paper's criterion)
    or of their absolute values (``l1``)."""
    flat = weight.detach().reshape(weight.shape[0], -1).double()
    if criterion == "sum":
        return flat.sum(1)
    if criterion == "l1":
        return flat.abs().sum(1)
    raise ValueError(f"unknown criterion {criterion!r}; valid: {', '.join(CRITERIA)}")


def effective_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """The parameter as the forward pass uses it (masked, if masked)."""
    if hasattr(module, name + "_orig"):
        return getattr(module, name + "_orig") * getattr(module, name + "_mask")
    return getattr(module, name)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def kept_filters(filters: int, pruned: Sequence[int]) -> list[int]:
    gone = set(pruned)
    return [j for j in range(filters) if j not in gone]


def select_filters(
    model: nn.Module,
    graph: ChannelGraph,
    plan: Mapping[str, Sequence[int]],
    percent: float,
    criterion: str = "sum",
    relative_to: str = "original",
) -> Plan:
    """The plan after pruning ``percent``% more of every convolution's units.

    ``model`` is the (trained) network ``plan`` was applied to; its weights rank the
    units still alive, lowest score first. ``relative_to="original"``: after this
    step a convolution has lost ``round(percent% of its dense units)`` in total;
    ``"current"``: it loses ``percent%`` of the units it still has. A convolution
    always keeps at least one unit.
    """
    if relative_to not in ("original", "current"):
        raise ValueError(f"relative_to must be 'original' or 'current', got {relative_to!r}")
    if not 0 <= percent < 100:
        raise ValueError(f"percent must be in [0, 100), got {percent}")
    new: Plan = {}
    for name, info in graph.convs.items():
        pruned = sorted(plan.get(name, ()))
        gone = set(pruned)
        alive = [u for u in info.units if not gone.intersection(u)]
        dead = len(info.units) - len(alive)
        if relative_to == "original":
            target = _round_half_up(percent / 100.0 * len(info.units))
        else:
            target = dead + _round_half_up(percent / 100.0 * len(alive))
        count = max(0, min(target, len(info.units) - 1) - dead)
        if count:
            module = model.get_submodule(name)
            local = kept_filters(info.filters, pruned) if info.structural else list(range(info.filters))
            if module.out_channels != len(local):
                raise ValueError(f"{name} has {module.out_channels} filters, the plan leaves {len(local)}")
            position = {j: i for i, j in enumerate(local)}
            scores = filter_scores(effective_weight(module), criterion)
            ranked = sorted(
                alive, key=lambda u: (sum(scores[position[j]].item() for j in u), u)
            )
            pruned = sorted(gone.union(j for u in ranked[:count] for j in u))
        if pruned:
            new[name] = pruned
    return new


# --------------------------------------------------------------------------- surgery
def _index(keep: Sequence[int], device) -> torch.Tensor:
    return torch.as_tensor(list(keep), dtype=torch.long, device=device)


def _slice_param(module: nn.Module, name: str, keep: Sequence[int], dim: int) -> None:
    p = getattr(module, name, None)
    if p is None:
        return
    if hasattr(module, name + "_orig"):
        raise ValueError(f"apply_plan needs a network without masks; {type(module).__name__}.{name} is masked")
    new = p.detach().index_select(dim, _index(keep, p.device)).clone()
    if isinstance(p, nn.Parameter):
        setattr(module, name, nn.Parameter(new, requires_grad=p.requires_grad))
    else:
        setattr(module, name, new)


def _drop(sets, removed) -> list[int]:
    """Indices of the channels to keep: a channel goes when every label it carries goes."""
    return [i for i, s in enumerate(sets) if not (s and s <= removed)]


def _gone(sets, removed) -> list[int]:
    return [i for i, s in enumerate(sets) if s and s <= removed]


def _mask(module: nn.Module, name: str, rows: Sequence[int]) -> None:
    p = getattr(module, name, None)
    if p is None or not rows:
        return
    mask = torch.ones_like(p)
    mask[_index(rows, p.device)] = 0
    prune.custom_from_mask(module, name, mask)


def apply_plan(model: nn.Module, graph: ChannelGraph, plan: Mapping[str, Sequence[int]]) -> nn.Module:
    """Prune ``model`` (dense, the architecture ``graph`` was built from) in place.

    Units of structural convolutions are removed: the convolution loses the filters,
    batch norms and per-channel activations after it lose the channels, depthwise
    convolutions lose the matching groups, and every consumer (convolution, linear
    layer) loses the input channels. Filters of tied convolutions are masked with
    ``torch.nn.utils.prune`` (weights and bias, and the affine parameters of a
    batch norm that sees only masked filters), so they stay zero through training.
    """
    unknown = set(plan) - set(graph.convs)
    if unknown:
        raise ValueError(f"the plan names layers the network has no prunable convolution for: {sorted(unknown)}")
    removed = {(n, j) for n, js in plan.items() if graph.convs[n].structural for j in js}
    masked = {(n, j) for n, js in plan.items() if not graph.convs[n].structural for j in js}
    with torch.no_grad():
        for use in graph.uses:
            module = model.get_submodule(use.name)
            if use.kind == "conv":
                in_keep = _drop(use.in_labels, removed)
                gone = plan.get(use.name, ()) if graph.convs[use.name].structural else ()
                out_keep = kept_filters(module.out_channels, gone)
                _slice_param(module, "weight", out_keep, 0)
                _slice_param(module, "weight", in_keep, 1)
                _slice_param(module, "bias", out_keep, 0)
                module.in_channels, module.out_channels = len(in_keep), len(out_keep)
            elif use.kind == "depthwise":
                in_keep, out_keep = _drop(use.in_labels, removed), _drop(use.out_labels, removed)
                _slice_param(module, "weight", out_keep, 0)
                _slice_param(module, "bias", out_keep, 0)
                module.in_channels, module.out_channels, module.groups = len(in_keep), len(out_keep), len(in_keep)
            elif use.kind == "linear":
                in_keep = _drop(use.in_labels, removed)
                _slice_param(module, "weight", in_keep, 1)
                module.in_features = len(in_keep)
            elif use.kind == "norm":
                keep = _drop(use.in_labels, removed)
                for name in ("weight", "bias", "running_mean", "running_var"):
                    _slice_param(module, name, keep, 0)
                module.num_features = len(keep)
            elif use.kind == "channelwise":
                keep = _drop(use.in_labels, removed)
                for name, dim in CHANNEL_PARAMS[type(module)].items():
                    _slice_param(module, name, keep, dim)
                setattr(module, CHANNEL_COUNT_ATTR[type(module)], len(keep))
        for name, js in plan.items():
            if not graph.convs[name].structural:
                module = model.get_submodule(name)
                _mask(module, "weight", js)
                _mask(module, "bias", js)
        for use in graph.uses:
            if use.kind == "depthwise":
                rows = _gone(use.out_labels, masked)
                module = model.get_submodule(use.name)
                _mask(module, "weight", rows)
                _mask(module, "bias", rows)
            elif use.kind == "norm":
                rows = _gone(use.in_labels, masked)
                module = model.get_submodule(use.name)
                _mask(module, "weight", rows)
                _mask(module, "bias", rows)
    return model


# --------------------------------------------------------------------------- measures
def count_parameters(model: nn.Module) -> int:
    """Parameters the network computes with: masked entries do not count."""
    total = 0
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name.endswith("_orig") and hasattr(module, name[: -len("_orig")] + "_mask"):
                total += int(getattr(module, name[: -len("_orig")] + "_mask").count_nonzero())
            else:
                total += p.numel()
    return total


def stored_parameters(model: nn.Module) -> int:
    """Entries of the parameter tensors (masked ones included)."""
    return sum(p.numel() for p in model.parameters())


def masked_modules(model: nn.Module) -> list[str]:
    """Names of the modules holding a mask."""
    return [n for n, m in model.named_modules() if _pruning_hooks(m)]


def _pruning_hooks(module: nn.Module) -> list:
    return [h for h in module._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]


def copy_pruned(model: nn.Module) -> nn.Module:
    """A deep copy of a network that may hold masks. After a forward pass in training a
    masked parameter is a tensor of the autograd graph, which cannot be deep-copied:
    it is recomputed outside the graph first (the next forward recomputes it anyway)."""
    with torch.no_grad():
        for module in model.modules():
            for hook in _pruning_hooks(module):
                setattr(module, hook._tensor_name, hook.apply_mask(module))
    return copy.deepcopy(model)


def make_permanent(model: nn.Module) -> nn.Module:
    """Bake every mask into its parameter (for deployment and timing); in place."""
    for module in model.modules():
        for name in [h._tensor_name for h in _pruning_hooks(module)]:
            prune.remove(module, name)
    return model


@torch.no_grad()
def inference_ms(
    model: nn.Module,
    input_shape: Sequence[int],
    batch_size: int,
    device: str | torch.device = "cpu",
    repeats: int = 20,
    warmup: int = 3,
) -> float:
    """Milliseconds of one forward pass on a batch, in eval mode, masks baked in: the
    fastest of ``repeats`` (as ``timeit`` advises: other work on the machine only adds)."""
    net = make_permanent(copy_pruned(model)).to(device).eval()
    x = torch.randn(batch_size, *input_shape, device=device)
    device = torch.device(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        net(x)
    sync()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        net(x)
        sync()
        times.append(time.perf_counter() - start)
    return 1000.0 * min(times)
