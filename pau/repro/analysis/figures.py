"""The figures of a runs table: training curves (Figs. 2, 5-8) and learned activations (Fig. 3).

Curves: test accuracy and train loss per epoch for every (dataset, model), one
line per activation: the mean over the seeds whose runs count (damaged runs do
not: their metrics stop short), with a band of ± one std (ddof as in the
tables); the legend says how many seeds each line averages. Learned
activations: every PAU/RPAU layer of a checkpoint drawn on [-5, 5] as in Fig. 3
(by ``pau.plot_activations``), with the range RPAU's coefficient noise can reach
(the band) and a histogram of the inputs the layer saw on a batch of the run's
data. Each figure is written as PNG and PDF.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import torch

from pau.plot import plot_activations

from .. import runs as run_folder
from ..errors import UserError
from ..training.build import build_datamodule
from ..training.module import PAUClassifier
from ..training.run import check_checkpoint
from .collect import counted, one_run_per_seed, read_metrics
from .names import ACTIVATIONS, DATASETS, MODELS, display
from .plots import curves_figure, save_figure

CURVE_VALUES = ("test_acc", "train_loss", "test_acc5", "test_loss", "train_acc")


# --------------------------------------------------------------------------- curves
def curve_data(runs: pd.DataFrame, ddof: int = 0) -> pd.DataFrame:
    """Per (dataset, model, activation, epoch): n (seeds), mean and std over seeds of each logged metric."""
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
    values = [c for c in CURVE_VALUES if c in data.columns]
    grouped = data.groupby(["dataset", "model", "activation", "epoch"])[values]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=ddof).add_suffix("_std")).join(
        grouped.size().rename("n")
    )
    return out.reset_index()


def write_curves(curves: pd.DataFrame, out_dir) -> list[Path]:
    """``curves_<dataset>_<model>.png/.pdf`` under ``out_dir``, one per (dataset, model)."""
    written = []
    for dataset, model in dict.fromkeys(zip(curves["dataset"], curves["model"])):
        written += save_figure(curves_figure(curves, dataset, model), Path(out_dir) / f"curves_{dataset}_{model}")
    return written


# --------------------------------------------------------------------------- learned activations
def load_run_model(run_dir) -> tuple[torch.nn.Module, dict]:
    """The network of a run's last checkpoint (eval mode, CPU) and the run's config;
    a UserError if the checkpoint is missing, damaged or not a PAU classifier's."""
    ckpt = run_folder.checkpoint_path(run_dir)
    if not ckpt.is_file():
        raise UserError(f"no checkpoint at {ckpt}: the run was not trained here, or its checkpoints were removed")
    check_checkpoint(ckpt)
    try:
        module = PAUClassifier.load_from_checkpoint(ckpt, map_location="cpu")
    except (RuntimeError, KeyError, pickle.UnpicklingError) as exc:  # a whole archive, but not ours
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"the checkpoint {ckpt} cannot be loaded ({reason})") from None
    return module.model.eval(), dict(module.config)


def data_batch(config: dict, size: int = 512, data_root: str | None = None) -> torch.Tensor:
    """Up to ``size`` normalised test images of the run's data set, as the network sees them."""
    config = {**config, "data": {**config["data"], "eval_batch_size": size}}
    if data_root is not None:
        config["data"]["root"] = data_root
    dm = build_datamodule(config)
    dm.prepare_data()
    dm.setup("test")
    images, targets = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
    return images[:size]


def write_learned_activations(model, inputs, out_stem, title=None) -> list[Path]:
    """Fig. 3 of ``model`` (its PAU layers over ``inputs``, if given) as PNG and PDF at ``out_stem``."""
    return save_figure(plot_activations(model, inputs, title=title), Path(out_stem))


def write_run_activations(run_dir, out_dir, data_root: str | None = None, warn=None) -> list[Path]:
    """Fig. 3 for one run folder: its checkpoint's PAU layers over a batch of its test data.
    Without the data at hand the functions are drawn without histograms, and ``warn`` says why."""
    model, config = load_run_model(run_dir)
    try:
        inputs = data_batch(config, data_root=data_root)
    except UserError as exc:
        if warn is not None:
            warn(UserError(f"{run_dir}: no input histogram: {exc}", hint=exc.hint))
        inputs = None
    data, net, act, seed = (config["data"]["name"], config["model"]["name"], config["activation"]["name"],
                            config["seed"])
    title = (f"Learned activations: {display(ACTIVATIONS, act)}, {display(MODELS, net)} "
             f"on {display(DATASETS, data)} (seed {seed})")
    try:
        return write_learned_activations(model, inputs, Path(out_dir) / f"activations_{data}_{net}_{act}_seed{seed}",
                                         title=title)
    except ValueError as exc:  # a network without PAU layers
        raise UserError(f"{run_dir}: {exc}") from None


def default_checkpoints(runs: pd.DataFrame) -> list[str]:
    """Per (dataset, model) and PAU/RPAU: the finished run of lowest seed that has a checkpoint."""
    used = counted(runs)
    used = used[used["activation"].isin(["pau", "rpau"])].sort_values("seed")
    picked = []
    for _, g in used.groupby(["dataset", "model", "activation"], sort=False):
        for run_dir in g["run_dir"]:
            if run_folder.checkpoint_path(run_dir).is_file():
                picked.append(run_dir)
                break
    return picked
