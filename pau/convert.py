"""``replace_activations``: put a PAU (or RPAU) at every activation site of a model.

A *site* is one call of an activation in the forward pass: a module such as
``nn.ReLU`` or a function such as ``F.relu``. Units are learnable, so two sites
must not share one: torchvision's ResNet BasicBlock calls its one ``self.relu``
twice, and a recursive ``setattr`` would give both calls the same PAU. The model
is therefore traced with ``torch.fx``:

- every site a distinct module called once: the modules are swapped in place and
  the model keeps its class;
- a module called at several sites, or a functional activation: the traced graph
  is rewritten so that each site calls its own unit, and a ``torch.fx.GraphModule``
  is returned (same submodule names, same state_dict keys, plus the new units);
- a model that cannot be traced: the modules are swapped in place, one unit per
  registered path, with a warning: a module called twice through one path keeps
  one unit for both calls, and functional activations stay as they are.

With ``init="match"`` (the default) each unit starts as the approximation of the
function it replaces (``pau.init``, on [-3, 3]): ReLU, ReLU6, LeakyReLU(slope),
GELU, SiLU (swish), Tanh, Sigmoid, ELU(alpha) and Hardswish.
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import fx, nn

from . import init as init_lib
from .modules import PAU, RPAU

# What each supported module stands for: (pau.init name, parameters read off the module).
_MODULE_TARGETS: dict[type, Callable[[nn.Module], tuple[str, dict]]] = {
    nn.ReLU: lambda m: ("relu", {}),
    nn.ReLU6: lambda m: ("relu6", {}),
    nn.LeakyReLU: lambda m: ("leaky_relu", {"negative_slope": float(m.negative_slope)}),
    nn.GELU: lambda m: ("gelu", {}),  # approximate="tanh" differs by < 1e-3 from the exact GELU
    nn.SiLU: lambda m: ("swish", {"beta": 1.0}),
    nn.Tanh: lambda m: ("tanh", {}),
    nn.Sigmoid: lambda m: ("sigmoid", {}),
    nn.ELU: lambda m: ("elu", {"alpha": float(m.alpha)}),
    nn.Hardswish: lambda m: ("hardswish", {}),
}
ACTIVATIONS: tuple[type[nn.Module], ...] = tuple(_MODULE_TARGETS)


def _arg(node: fx.Node, index: int, name: str, default):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _inplace_at(index: int):
    return lambda n: bool(_arg(n, index, "inplace", False))


def _always(value: bool):
    return lambda n: value


def _fixed(name: str, **params):
    return lambda n: (name, params)


# Functional sites in a traced graph: target -> (how it is shown, the module type it is
# the functional form of, its pau.init name and parameters, whether it overwrites its input).
_FUNCTIONS = {
    F.relu: ("F.relu", nn.ReLU, _fixed("relu"), _inplace_at(1)),
    F.relu_: ("F.relu_", nn.ReLU, _fixed("relu"), _always(True)),
    torch.relu: ("torch.relu", nn.ReLU, _fixed("relu"), _always(False)),
    torch.relu_: ("torch.relu_", nn.ReLU, _fixed("relu"), _always(True)),
    F.relu6: ("F.relu6", nn.ReLU6, _fixed("relu6"), _inplace_at(1)),
    F.leaky_relu: (
        "F.leaky_relu", nn.LeakyReLU,
        lambda n: ("leaky_relu", {"negative_slope": _arg(n, 1, "negative_slope", 0.01)}), _inplace_at(2),
    ),
    F.gelu: ("F.gelu", nn.GELU, _fixed("gelu"), _always(False)),
    F.silu: ("F.silu", nn.SiLU, _fixed("swish", beta=1.0), _inplace_at(1)),
    torch.tanh: ("torch.tanh", nn.Tanh, _fixed("tanh"), _always(False)),
    F.tanh: ("F.tanh", nn.Tanh, _fixed("tanh"), _always(False)),
    torch.sigmoid: ("torch.sigmoid", nn.Sigmoid, _fixed("sigmoid"), _always(False)),
    F.sigmoid: ("F.sigmoid", nn.Sigmoid, _fixed("sigmoid"), _always(False)),
    F.elu: ("F.elu", nn.ELU, lambda n: ("elu", {"alpha": _arg(n, 1, "alpha", 1.0)}), _inplace_at(2)),
    F.hardswish: ("F.hardswish", nn.Hardswish, _fixed("hardswish"), _inplace_at(1)),
}
_METHODS = {
    "relu": (nn.ReLU, "relu", False), "relu_": (nn.ReLU, "relu", True),
    "sigmoid": (nn.Sigmoid, "sigmoid", False), "sigmoid_": (nn.Sigmoid, "sigmoid", True),
    "tanh": (nn.Tanh, "tanh", False), "tanh_": (nn.Tanh, "tanh", True),
}


@dataclass(frozen=True)
class Site:
    """One replaced activation site."""

    path: str  # the unit's qualified name in the returned model
    replaced: str  # what was there, e.g. "ReLU(inplace=True)" or "torch.nn.functional.relu"
    init: str  # what the unit starts as, e.g. "relu" or "leaky_relu(negative_slope=0.2)"
    max_error: float | None  # max |unit - replaced function| on [-3, 3], where known


@dataclass
class Report:
    """What ``replace_activations`` did."""

    sites: list[Site] = field(default_factory=list)
    traced: bool = True
    graph_rewritten: bool = False  # the model returned is a torch.fx.GraphModule
    shared: list[str] = field(default_factory=list)  # modules that had served several sites

    def __len__(self) -> int:
        return len(self.sites)

    def __str__(self) -> str:
        how = "graph rewritten (torch.fx)" if self.graph_rewritten else "modules swapped in place"
        lines = [f"{len(self.sites)} activation sites replaced; {how}"]
        if self.shared:
            lines.append(f"split into one unit per call: {', '.join(self.shared)}")
        for s in self.sites:
            err = f"  max error {s.max_error:.1e}" if s.max_error is not None else ""
            lines.append(f"  {s.path}: {s.replaced} -> {s.init}{err}")
        return "\n".join(lines)


def _init_label(name: str, params: dict) -> str:
    args = ", ".join(f"{k}={v:g}" for k, v in sorted(params.items()))
    return f"{name}({args})" if args else name


class _Builder:
    """Makes one unit per site from the options given to ``replace_activations``."""

    def __init__(self, layer, init, options: dict, like: nn.Module):
        if isinstance(layer, str):
            key = layer.strip().lower()
            if key not in ("pau", "rpau"):
                raise ValueError(f"layer must be PAU, RPAU (or 'pau', 'rpau') or a PAU subclass; got {layer!r}")
            layer = PAU if key == "pau" else RPAU
        if not (isinstance(layer, type) and issubclass(layer, PAU)):
            raise ValueError(f"layer must be PAU, RPAU (or 'pau', 'rpau') or a PAU subclass; got {layer!r}")
        allowed = [p for p in inspect.signature(layer).parameters if p not in ("init", "inplace")]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(f"{layer.__name__} takes {', '.join(allowed)}; got unexpected {', '.join(unknown)}")
        self.layer, self.init, self.options = layer, init, options
        self.m, self.n = options.get("m", 5), options.get("n", 4)
        self.form = options.get("form", "A")
        param = next((p for p in like.parameters() if p.is_floating_point()), None)
        self.device = param.device if param is not None else None
        self.dtype = param.dtype if param is not None else None
        self.training = like.training

    def __call__(self, target: tuple[str, dict] | None, what: str) -> tuple[nn.Module, str, float | None]:
        if self.init != "match":
            unit = self.layer(init=self.init, **self.options)
            label = self.init if isinstance(self.init, str) else "given coefficients"
            max_error = None
        else:
            if target is None:
                raise ValueError(
                    f"init='match' does not know what {what} computes; pass init= a name "
                    f"({', '.join(init_lib.NAMES)}) or (numerator, denominator)"
                )
            name, params = target
            entry = init_lib.entry(name, self.m, self.n, self.form, **params)
            unit = self.layer(init=entry.tensors(), **self.options)
            label, max_error = _init_label(name, dict(entry.params)), entry.max_error
        unit.to(device=self.device, dtype=self.dtype).train(self.training)
        return unit, label, max_error


def _module_target(module: nn.Module) -> tuple[str, dict] | None:
    for cls in type(module).__mro__:
        if cls in _MODULE_TARGETS:
            return _MODULE_TARGETS[cls](module)
    return None


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


def _free_name(root: nn.Module, owner: str, base: str) -> str:
    """``owner.base``, or ``owner.base_1``, ... whichever is not taken yet; under the
    nearest enclosing module the graph module holds."""
    while owner:
        try:
            parent = root.get_submodule(owner)
            break
        except AttributeError:
            owner = owner.rpartition(".")[0]
    else:
        parent = root
    name, k = base, 0
    while hasattr(parent, name):
        k += 1
        name = f"{base}_{k}"
    return f"{owner}.{name}" if owner else name


class _SiteTracer(fx.Tracer):
    """Keeps every module that is a site as one call (a leaf), however it is written."""

    def __init__(self, is_site: Callable[[str, nn.Module], bool]):
        super().__init__()
        self._is_site = is_site

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return self._is_site(qualname, m) or super().is_leaf_module(m, qualname)


def _functional_site(node: fx.Node, kinds: tuple[type, ...]):
    """(description, (init name, params), overwrites input) if ``node`` is a functional
    activation whose module form is one of ``kinds``; else None."""
    if node.op == "call_function" and node.target in _FUNCTIONS:
        what, kind, target, inplace = _FUNCTIONS[node.target]
    elif node.op == "call_method" and node.target in _METHODS:
        kind, name, overwrites = _METHODS[node.target]
        what, target, inplace = f"Tensor.{node.target}", _fixed(name), _always(overwrites)
    else:
        return None
    if not issubclass(kind, kinds) or not node.args or not isinstance(node.args[0], fx.Node):
        return None
    name, params = target(node)
    if any(isinstance(v, fx.Node) for v in params.values()):
        return None  # a parameter computed in forward: not a fixed function
    return what, (name, {k: float(v) for k, v in params.items()}), inplace(node)


def replace_activations(
    model: nn.Module,
    layer=PAU,
    *,
    init="match",
    activations: Iterable[type[nn.Module]] = ACTIVATIONS,
    predicate: Callable[[str, nn.Module], bool] | None = None,
    functional: bool = True,
    **options,
) -> tuple[nn.Module, Report]:
    """Replace every activation site of ``model`` by its own ``layer`` unit.

    Args:
        model: any ``nn.Module``; modified in place where no graph rewrite is needed.
        layer: ``pau.PAU`` (default), ``pau.RPAU``, a subclass, or "pau" / "rpau".
        init: "match" (each unit approximates what it replaces), or any ``init`` a
            PAU takes (a ``pau.init`` name, or (numerator, denominator)) for all units.
        activations: the module types to replace (and their functional forms, e.g.
            ``nn.ReLU`` also covers ``F.relu``, ``torch.relu`` and ``Tensor.relu``).
        predicate: ``predicate(qualified_name, module) -> bool``; when given, it
            decides which modules are replaced instead of ``activations`` (which
            then selects the functional sites only).
        functional: also replace functional activations found in the traced graph.
        **options: the unit's arguments: ``m``, ``n``, ``form``, ``groups``, and
            ``alpha`` for RPAU.

    Returns:
        ``(model, report)``: the converted model (the same object, or a
        ``torch.fx.GraphModule`` where sites had to be split, which holds the
        model's own layers: their parameters are shared, not copied) and a
        ``Report`` listing each site, what it replaced and what its unit starts as.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"replace_activations takes an nn.Module, got {type(model).__name__}")
    kinds = tuple(activations)
    bad = [k for k in kinds if not (isinstance(k, type) and issubclass(k, nn.Module))]
    if bad:
        raise ValueError(f"activations must be nn.Module classes, e.g. nn.ReLU; got {bad}")

    def is_site(name: str, module: nn.Module) -> bool:
        if isinstance(module, PAU):
            return False
        return bool(predicate(name, module)) if predicate is not None else isinstance(module, kinds)

    build = _Builder(layer, init, options, model)
    tracer = _SiteTracer(is_site)
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure: fall back to module swapping
        return _swap_untraced(model, is_site, build, exc)

    module_sites: dict[str, list[fx.Node]] = {}
    function_sites: list[tuple[fx.Node, tuple]] = []
    for node in graph.nodes:
        if node.op == "call_module" and is_site(node.target, model.get_submodule(node.target)):
            module_sites.setdefault(node.target, []).append(node)
        elif functional:
            found = _functional_site(node, kinds)
            if found is not None:
                function_sites.append((node, found))

    report = Report()
    shared = [path for path, nodes in module_sites.items() if len(nodes) > 1]
    if not shared and not function_sites:
        for path in module_sites:
            original = model.get_submodule(path)
            unit, label, err = build(_module_target(original), type(original).__name__)
            _set_submodule(model, path, unit)
            report.sites.append(Site(path, repr(original), label, err))
        return model, report

    gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
    report.graph_rewritten, report.shared = True, shared
    replaced_at: dict[fx.Node, Site] = {}
    for path, nodes in module_sites.items():
        original = gm.get_submodule(path)
        for k, node in enumerate(nodes):
            new_path = path if k == 0 else _free_name(gm, *_split(path))
            unit, label, err = build(_module_target(original), type(original).__name__)
            _set_submodule(gm, new_path, unit)
            node.target = new_path
            replaced_at[node] = Site(new_path, repr(original), label, err)
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    for node, (what, target, inplace) in function_sites:
        owner = tracer.node_name_to_scope.get(node.name, ("", None))[0]
        new_path = _free_name(gm, owner, target[0])
        unit, label, err = build(target, what)
        _set_submodule(gm, new_path, unit)
        source = node.args[0]
        with gm.graph.inserting_after(node):
            call = gm.graph.call_module(new_path, (source,))
        node.replace_all_uses_with(call)
        gm.graph.erase_node(node)
        if inplace:
            # The function overwrote its input: later readers of the input read the result.
            for user in list(source.users):
                if user is not call and order.get(user, -1) > order[node]:
                    user.replace_input_with(source, call)
        replaced_at[call] = Site(new_path, what, label, err)
    gm.graph.lint()
    gm.recompile()
    report.sites = [replaced_at[n] for n in gm.graph.nodes if n in replaced_at]
    return gm, report


def _split(path: str) -> tuple[str, str]:
    owner, _, name = path.rpartition(".")
    return owner, name


def _swap_untraced(model: nn.Module, is_site, build: _Builder, exc: Exception) -> tuple[nn.Module, Report]:
    paths: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if name and is_site(name, module):
            paths.setdefault(id(module), []).append(name)
    report = Report(traced=False)
    for names in paths.values():
        original = model.get_submodule(names[0])
        for path in names:
            unit, label, err = build(_module_target(original), type(original).__name__)
            _set_submodule(model, path, unit)
            report.sites.append(Site(path, repr(original), label, err))
    aliased = [" = ".join(names) for names in paths.values() if len(names) > 1]
    detail = (f"modules registered at several paths each got one unit per path: {'; '.join(aliased)}. "
              if aliased else "")
    warnings.warn(
        f"{type(model).__name__} could not be traced with torch.fx ({type(exc).__name__}: {exc}); "
        f"replaced {len(report.sites)} activation modules in place. {detail}"
        "A module called more than once in forward shares its unit between those calls, "
        "and functional activations (F.relu, ...) are left as they are.",
        RuntimeWarning,
        stacklevel=3,
    )
    return model, report


__all__ = ["ACTIVATIONS", "Report", "Site", "replace_activations"]
