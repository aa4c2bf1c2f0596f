"""Drawing learned units: ``plot_activations(model)`` returns a matplotlib figure.

One panel per PAU or RPAU of a model (or the one unit passed), in registration
order: F(x) over an input range, one line per coefficient set (``groups``); for an
RPAU the band its coefficient noise can reach (Eq. 3: every coefficient c within
[c - alpha|c|, c + alpha|c|]); and, given a batch, a histogram of the inputs the
unit saw on it (as in the paper's Fig. 3). Matplotlib (``pip install "pau[plot]"``)
is imported by the call, and the figure is built without pyplot, so no backend is
chosen and no global figure state is touched: save it with ``fig.savefig(path)``.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

from .math.reference import pau_reference
from .modules import PAU, RPAU

MAX_VERTICES = 4096  # noise-band vertices evaluated; a seeded sample of them beyond this


def pau_units(model: nn.Module) -> list[tuple[str, PAU]]:
    """Every PAU (RPAU included) of ``model`` with its qualified name ("" for the model itself)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, PAU)]


@torch.no_grad()
def unit_inputs(model: nn.Module, inputs, max_values: int = 200_000) -> dict[str, torch.Tensor]:
    """The values each unit of ``model`` receives on ``inputs`` (eval mode), flattened;
    a strided sample of ``max_values`` where there are more."""
    seen, hooks = {}, []
    for name, unit in pau_units(model):
        def hook(_module, args, name=name):
            x = args[0].detach().flatten().float().cpu()
            seen.setdefault(name, []).append(x[:: max(1, x.numel() // max_values)])

        hooks.append(unit.register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(inputs)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return {k: torch.cat(v) for k, v in seen.items()}


def coefficient_sets(unit: PAU) -> tuple[torch.Tensor, torch.Tensor]:
    """(numerators, denominators) of shape (groups, m + 1) and (groups, len(b)), float64 on the CPU."""
    num = unit.numerator.detach().double().cpu()
    den = unit.denominator.detach().double().cpu()
    return (num, den) if num.dim() == 2 else (num.unsqueeze(0), den.unsqueeze(0))


@torch.no_grad()
def noise_band(numerator: torch.Tensor, denominator: torch.Tensor, form: str, alpha: float, x: torch.Tensor):
    """(lowest, highest) F(x) over RPAU's noise: each coefficient c in [c - alpha|c|, c + alpha|c|].

    F is evaluated at every vertex of that box of coefficients (2^(m+1+n) of them;
    a seeded sample of ``MAX_VERTICES`` beyond). In forms A and N, F is a ratio of
    functions linear in each coefficient with a positive denominator, so its
    extremes lie on vertices and the band is exact.
    """
    k_num, k = numerator.numel(), numerator.numel() + denominator.numel()
    if 2**k <= MAX_VERTICES:
        signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=k)), dtype=torch.float64)
    else:
        gen = torch.Generator().manual_seed(0)
        signs = torch.randint(0, 2, (MAX_VERTICES, k), generator=gen).double() * 2 - 1
    coef = torch.cat([numerator.flatten(), denominator.flatten()]).double()
    vertices = coef * (1.0 + alpha * signs)  # c (1 + alpha s) = c + alpha |c| (s sign(c))
    # One channel per vertex, each its own group: one call evaluates all of them.
    xs = x.double().reshape(1, 1, -1).expand(1, len(vertices), -1).contiguous()
    y = pau_reference(xs, vertices[:, :k_num].contiguous(), vertices[:, k_num:].contiguous(), form)[0]
    return y.min(dim=0).values, y.max(dim=0).values


def plot_activations(model: nn.Module, inputs=None, *, x_range=(-5.0, 5.0), points: int = 401,
                     columns: int = 4, title: str | None = None):
    """A figure with one panel per learned unit of ``model`` (a model or one PAU/RPAU).

    Args:
        model: the module whose PAU and RPAU units are drawn.
        inputs: optional batch for ``model(inputs)``; each panel then shows a
            histogram of the values its unit received (evaluated in eval mode).
        x_range: the input interval drawn (Fig. 3 uses (-5, 5)).
        points: evaluation points on ``x_range``.
        columns: panels per row at most.
        title: the figure's title.

    Returns:
        a ``matplotlib.figure.Figure``; its axes in ``fig.axes`` (panels first).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError('plot_activations needs matplotlib: pip install "pau[plot]"') from err
    units = pau_units(model)
    if not units:
        raise ValueError(f"{type(model).__name__} has no PAU or RPAU unit to draw; convert it with pau.replace_activations")
    if points < 2 or not x_range[0] < x_range[1]:
        raise ValueError(f"need points >= 2 and x_range (lo, hi) with lo < hi; got points={points}, x_range={x_range}")
    seen = unit_inputs(model, inputs) if inputs is not None else {}
    cols = max(1, min(len(units), columns))
    rows = -(-len(units) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    x = torch.linspace(*x_range, points, dtype=torch.float64)
    histograms = []
    for ax, (i, (name, unit)) in zip(axes.flat, enumerate(units)):
        nums, dens = coefficient_sets(unit)
        alpha = unit.alpha if isinstance(unit, RPAU) else 0.0
        for g, (num, den) in enumerate(zip(nums, dens)):
            (line,) = ax.plot(x, pau_reference(x, num, den, unit.form), lw=1.5, color=f"C{g % 10}", zorder=3,
                              label=f"group {g}" if len(nums) > 1 else None)
            if alpha > 0:
                lo, hi = noise_band(num, den, unit.form, alpha, x)
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.3, lw=0, zorder=2)
        if name in seen:
            h = ax.twinx()
            # Inputs outside the drawn range are left out, not piled into the edge bins.
            h.hist(seen[name].numpy(), bins=60, range=x_range, color="0.6", alpha=0.5, zorder=1)
            h.set_yticks([])
            ax.set_zorder(h.get_zorder() + 1)
            ax.patch.set_visible(False)
            histograms.append(h)
        kind = f"RPAU α={alpha:g}" if isinstance(unit, RPAU) else "PAU"
        ax.set_title(f"{name or type(unit).__name__} ({kind})", fontsize=9)
        ax.set_xlim(*x_range)
        ax.grid(alpha=0.3)
        if len(nums) > 1:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(units):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["coefficient_sets", "noise_band", "pau_units", "plot_activations", "unit_inputs"]
