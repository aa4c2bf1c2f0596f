"""``pau-figures``: training curves (Figs. 2, 5-8) and learned activations (Fig. 3).

Curves: test accuracy and train loss per epoch for every (dataset, model), one
line per activation: the mean over seeds, with a band of ± one std (ddof as in
the tables). Learned activations: every PAU/RPAU layer of a checkpoint drawn on
[-5, 5] as in Fig. 3, with the range RPAU's coefficient noise can reach (the
band) and a histogram of the inputs the layer saw on a batch of the run's data.
Each figure is written as PNG and PDF.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from pau.functional import pau_reference  # noqa: E402
from pau.modules import PAU, RPAU  # noqa: E402
from .collect import counted, read_metrics  # noqa: E402
from .names import ACTIVATIONS, DATASETS, MODELS, display, order_rows  # noqa: E402
from .tables import one_run_per_seed  # noqa: E402

CURVE_METRICS = (("test_acc", "Test accuracy (%)", 100.0), ("train_loss", "Train loss", 1.0))
MAX_VERTICES = 4096


# --------------------------------------------------------------------------- curves
def curve_data(runs: pd.DataFrame, ddof: int = 0) -> pd.DataFrame:
    """Per (dataset, model, activation, epoch): n, mean and std over seeds of each logged metric."""
    frames = []
    for _, r in one_run_per_seed(counted(runs)).iterrows():
        metrics = read_metrics(r["run_dir"])
        if metrics is None or metrics.empty:
            continue
        metrics = metrics.assign(dataset=r["dataset"], model=r["model"], activation=r["activation"], seed=r["seed"])
        frames.append(metrics)
    if not frames:
        return pd.DataFrame()
    data = pd.concat(frames, ignore_index=True)
    values = [c for c in ("test_acc", "train_loss", "test_acc5", "test_loss", "train_acc") if c in data.columns]
    grouped = data.groupby(["dataset", "model", "activation", "epoch"])[values]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=ddof).add_suffix("_std")).join(
        grouped.size().rename("n")
    )
    return out.reset_index()


def plot_curves(curves: pd.DataFrame, out_dir) -> list[Path]:
    """One figure per (dataset, model): test accuracy and train loss against epoch."""
    written = []
    for (dataset, model), g in curves.groupby(["dataset", "model"], sort=False):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        names = {display(ACTIVATIONS, a): a for a in g["activation"].unique()}
        for name in order_rows(names, list(ACTIVATIONS.values())):
            c = g[g["activation"] == names[name]].sort_values("epoch")
            for ax, (metric, label, scale) in zip(axes, CURVE_METRICS):
                mean, std = scale * c[f"{metric}_mean"], scale * c[f"{metric}_std"].fillna(0.0)
                (line,) = ax.plot(c["epoch"], mean, label=name, lw=1.5 if name in ("PAU", "RPAU") else 1.0)
                ax.fill_between(c["epoch"], mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
                ax.set_xlabel("Epoch")
                ax.set_ylabel(label)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0].legend(fontsize=7, ncol=2)
        fig.suptitle(f"{display(MODELS, model)} on {display(DATASETS, dataset)} (mean ± std over seeds)")
        fig.tight_layout()
        written += save_figure(fig, Path(out_dir) / f"curves_{dataset}_{model}")
    return written


# --------------------------------------------------------------------------- learned activations
def pau_layers(model: torch.nn.Module) -> list[tuple[str, PAU]]:
    """Every PAU (RPAU included) of ``model``, in forward-registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, PAU)]


@torch.no_grad()
def layer_inputs(model: torch.nn.Module, inputs: torch.Tensor, max_values: int = 200_000) -> dict[str, torch.Tensor]:
    """The input values each PAU layer sees on ``inputs`` (eval mode), flattened (a strided sample if many)."""
    seen, hooks = {}, []
    for name, layer in pau_layers(model):
        def hook(_module, args, name=name):
            x = args[0].detach().flatten().float().cpu()
            step = max(1, x.numel() // max_values)
            seen.setdefault(name, []).append(x[::step])
        hooks.append(layer.register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(inputs)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return {k: torch.cat(v) for k, v in seen.items()}


def _coefficient_sets(layer: PAU):
    num = layer.numerator.detach().float().cpu()
    den = layer.denominator.detach().float().cpu()
    return (num, den) if num.dim() == 2 else (num.unsqueeze(0), den.unsqueeze(0))


@torch.no_grad()
def noise_band(numerator: torch.Tensor, denominator: torch.Tensor, form: str, alpha: float, x: torch.Tensor):
    """Lowest and highest F(x) over RPAU's noise: every coefficient c in [c - alpha|c|, c + alpha|c|].

    F is evaluated at every vertex of that box of coefficients (2^(m+1+n) of
    them; a random sample of vertices beyond 4096). For forms A and N, F is a
    ratio of functions linear in each coefficient with a positive denominator,
    so its extremes lie on vertices and the band is exact.
    """
    k_num, k_den = numerator.numel(), denominator.numel()
    k = k_num + k_den
    if 2**k <= MAX_VERTICES:
        signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=k)))
    else:
        gen = torch.Generator().manual_seed(0)
        signs = torch.randint(0, 2, (MAX_VERTICES, k), generator=gen).float() * 2 - 1
    coef = torch.cat([numerator.flatten(), denominator.flatten()]).float()
    vertices = coef * (1.0 + alpha * signs)  # (V, k): one coefficient set per vertex
    # One channel per vertex, each its own group: one call evaluates all of them.
    xs = x.float().reshape(1, 1, -1).expand(1, len(vertices), -1).contiguous()
    y = pau_reference(xs, vertices[:, :k_num].contiguous(), vertices[:, k_num:].contiguous(), form)[0]
    return y.min(dim=0).values, y.max(dim=0).values


def plot_learned_activations(model, inputs=None, out_stem=None, title=None, x_range=(-5.0, 5.0), points=401):
    """Fig. 3: one panel per PAU layer: F(x), RPAU's noise band, and a histogram of the layer's inputs."""
    layers = pau_layers(model)
    if not layers:
        raise ValueError("the model has no PAU or RPAU layer")
    seen = layer_inputs(model, inputs) if inputs is not None else {}
    cols = min(len(layers), 4)
    rows = -(-len(layers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    x = torch.linspace(*x_range, points)
    for ax, (i, (name, layer)) in zip(axes.flat, enumerate(layers)):
        nums, dens = _coefficient_sets(layer)
        for g, (num, den) in enumerate(zip(nums, dens)):
            y = pau_reference(x, num, den, layer.form)
            (line,) = ax.plot(x, y, lw=1.5, color="C0" if len(nums) == 1 else f"C{g % 10}", zorder=3)
            alpha = getattr(layer, "alpha", 0.0) if isinstance(layer, RPAU) else 0.0
            if alpha > 0:
                lo, hi = noise_band(num, den, layer.form, alpha, x)
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.3, lw=0, zorder=2)
        if name in seen:
            h = ax.twinx()
            # Inputs outside the drawn range are left out, not piled into the edge bins.
            h.hist(seen[name].numpy(), bins=60, range=x_range, color="0.6", alpha=0.5, zorder=1)
            h.set_yticks([])
            ax.set_zorder(h.get_zorder() + 1)
            ax.patch.set_visible(False)
        kind = f"RPAU α={layer.alpha:g}" if isinstance(layer, RPAU) else "PAU"
        ax.set_title(f"Layer {i + 1} ({kind})", fontsize=9)
        ax.set_xlim(*x_range)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(layers):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    written = save_figure(fig, Path(out_stem)) if out_stem is not None else []
    plt.close(fig)
    return written


def save_figure(fig, stem: Path) -> list[Path]:
    """The figure as PNG and PDF at ``stem``; closes it."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


# --------------------------------------------------------------------------- checkpoints
def load_run_model(run_dir) -> tuple[torch.nn.Module, dict]:
    """The network of a run's ``checkpoints/last.ckpt`` (eval mode, CPU) and the run's config."""
    from ..training.module import PAUClassifier

    ckpt = Path(run_dir) / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"no checkpoint at {ckpt}")
    module = PAUClassifier.load_from_checkpoint(ckpt, map_location="cpu")
    return module.model.eval(), dict(module.config)


def data_batch(config: dict, size: int = 512, data_root: str | None = None) -> torch.Tensor:
    """Up to ``size`` normalised test images of the run's data set, as the network sees them."""
    from ..training.build import build_datamodule

    config = {**config, "data": {**config["data"], "eval_batch_size": size}}
    if data_root is not None:
        config["data"]["root"] = data_root
    dm = build_datamodule(config)
    dm.prepare_data()
    dm.setup("test")
    images, targets = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
    return images[:size]


def plot_run_activations(run_dir, out_dir, data_root: str | None = None) -> list[Path]:
    """Fig. 3 for one run folder: its checkpoint's PAU layers over a batch of its test data."""
    model, config = load_run_model(run_dir)
    try:
        inputs = data_batch(config, data_root=data_root)
    except Exception as exc:  # data not at hand: draw the functions without histograms
        print(f"warning: no input histogram for {run_dir}: {exc}", file=sys.stderr)
        inputs = None
    names = (config["data"]["name"], config["model"]["name"], config["activation"]["name"], config["seed"])
    title = (f"Learned activations: {display(ACTIVATIONS, names[2])}, {display(MODELS, names[1])} "
             f"on {display(DATASETS, names[0])} (seed {names[3]})")
    stem = Path(out_dir) / "activations_{}_{}_{}_seed{}".format(*names)
    return plot_learned_activations(model, inputs, stem, title=title)


def default_checkpoints(runs: pd.DataFrame) -> list[str]:
    """Per (dataset, model) and PAU/RPAU: the finished run of lowest seed that has a checkpoint."""
    used = counted(runs)
    used = used[used["activation"].isin(["pau", "rpau"])].sort_values("seed")
    picked = []
    for _, g in used.groupby(["dataset", "model", "activation"], sort=False):
        for run_dir in g["run_dir"]:
            if (Path(run_dir) / "checkpoints" / "last.ckpt").is_file():
                picked.append(run_dir)
                break
    return picked


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pau-figures", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", default="results/runs.csv", help="runs table from pau-collect")
    parser.add_argument("--out", default="results/figures", help="output folder")
    parser.add_argument("--checkpoints", nargs="*", metavar="RUN_DIR",
                        help="run folders to draw the learned activations of (default: one per PAU/RPAU cell)")
    parser.add_argument("--no-curves", action="store_true", help="skip the training curves")
    parser.add_argument("--no-activations", action="store_true", help="skip the learned activations")
    parser.add_argument("--data-root", help="where the runs' data sets are, if not their saved data.root")
    parser.add_argument("--ddof", type=int, default=0, help="std over seeds for the bands: 0 population, 1 sample")
    args = parser.parse_args(argv)
    from .pruning import write_figure

    written = list(write_figure(Path(args.runs).with_name("pruning.csv"), args.out, args.ddof))
    if not Path(args.runs).is_file():
        if not written:
            print(f"pau-figures: no runs table at {args.runs}; run pau-collect first", file=sys.stderr)
        for path in written:
            print(path)
        return 0 if written else 1
    runs = pd.read_csv(args.runs)
    if not args.no_curves:
        curves = curve_data(runs, ddof=args.ddof)
        if curves.empty:
            print("pau-figures: no finished run with metrics.csv", file=sys.stderr)
        else:
            written += plot_curves(curves, args.out)
    if not args.no_activations:
        run_dirs = args.checkpoints if args.checkpoints is not None else default_checkpoints(runs)
        for run_dir in run_dirs:
            try:
                written += plot_run_activations(run_dir, args.out, args.data_root)
            except (FileNotFoundError, ValueError) as exc:
                print(f"pau-figures: {run_dir}: {exc}", file=sys.stderr)
    for path in written:
        print(path)
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
