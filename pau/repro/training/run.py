"""``run(cfg)``: one training run into its own folder, idempotently.

A run folder holds ``config.yaml`` (the resolved configuration), ``metrics.csv``
(a row per finished epoch), ``checkpoints/last.ckpt``, ``final_metrics.json`` once
finished and ``error.txt`` if the last attempt failed. Calling ``run`` again with the
same configuration returns a finished run's metrics without training, and resumes
an interrupted one from its last checkpoint (its W&B run too).
"""
from __future__ import annotations

import json
import math
import os
import secrets
import traceback
from pathlib import Path
from typing import Any, Iterable, Mapping

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, Timer
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf

from .build import build_datamodule, resolved
from .callbacks import EpochRecorder, ReplicaCheck
from .config import NON_RESULT_KEYS
from .module import PAUClassifier

CONFIG, METRICS, FINAL, ERROR = "config.yaml", "metrics.csv", "final_metrics.json", "error.txt"
LAST_CKPT = Path("checkpoints") / "last.ckpt"
WANDB_ID = "wandb_id.txt"
DDP_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # set by Lightning's launcher


class RunConflictError(RuntimeError):
    """The run folder holds a run of a different configuration."""


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differing_keys(saved: Mapping[str, Any], current: Mapping[str, Any], ignore: Iterable[str] = NON_RESULT_KEYS) -> list[str]:
    """Dotted keys whose values differ, except those under ``ignore``."""
    a, b = _flatten(saved), _flatten(current)
    skip = tuple(ignore)
    return sorted(
        k for k in set(a) | set(b)
        if not any(k == s or k.startswith(s + ".") for s in skip) and a.get(k, "<absent>") != b.get(k, "<absent>")
    )


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _check_config(folder: Path, cfg: dict, finished: bool) -> None:
    saved_path = folder / CONFIG
    if not saved_path.is_file():
        return
    saved = yaml.safe_load(saved_path.read_text()) or {}
    keys = differing_keys(saved, cfg)
    if keys:
        flat_old, flat_new = _flatten(saved), _flatten(cfg)
        changes = "; ".join(f"{k}: {flat_old.get(k, '<absent>')!r} -> {flat_new.get(k, '<absent>')!r}" for k in keys)
        state = "a finished" if finished else "an unfinished"
        raise RunConflictError(
            f"{folder} holds {state} run with a different configuration ({changes}). "
            f"Use another runs folder (e.g. paths.runs_dir=runs_other) to keep both, "
            f"or delete {folder} to replace it."
        )


def build_loggers(cfg: dict, folder: Path) -> list:
    loggers = []
    if cfg["logger"]["csv"]:
        # A new logs/version_N per attempt: resuming must not overwrite the earlier steps.
        loggers.append(CSVLogger(save_dir=str(folder), name="logs"))
    wb = cfg["logger"]["wandb"]
    if wb["enabled"]:
        from lightning.pytorch.loggers import WandbLogger

        id_file = folder / WANDB_ID
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        loggers.append(WandbLogger(
            project=wb["project"], entity=wb["entity"], group=wb["group"], tags=list(wb["tags"]) or None,
            name=cfg["paths"]["run_name"], id=run_id, resume="allow", save_dir=str(folder), mode=wb["mode"],
        ))
    return loggers


def _ensure_wandb_id(cfg: dict, folder: Path) -> None:
    """Keep one W&B run id per run folder, so a resumed run continues its W&B run."""
    id_file = folder / WANDB_ID
    if cfg["logger"]["wandb"]["enabled"] and not id_file.is_file():
        id_file.write_text(secrets.token_hex(6))  # W&B ids: letters and digits


def build_trainer(cfg: dict, folder: Path, callbacks: Iterable[L.Callback] = (), top5: bool = False) -> L.Trainer:
    """A Trainer writing into ``folder``: ``metrics.csv``, ``checkpoints/last.ckpt``, loggers."""
    options = {k: v for k, v in cfg["trainer"].items() if v is not None}
    extra = []
    if "max_time" in options:
        # Checked at epoch ends only: an epoch cut short would count as done on resume.
        extra.append(Timer(duration=options.pop("max_time"), interval="epoch"))
    checkpoint = ModelCheckpoint(
        dirpath=str(folder / LAST_CKPT.parent), filename=LAST_CKPT.stem, monitor=None, save_top_k=1,
        every_n_epochs=cfg["checkpoint"]["every_n_epochs"], save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    return L.Trainer(
        **options,
        default_root_dir=str(folder),
        callbacks=[EpochRecorder(folder / METRICS, top5=top5), ReplicaCheck(folder / "replicas.json"),
                   *extra, *callbacks, checkpoint],
        logger=build_loggers(cfg, folder) or False,
        # The data modules shard their batches across processes themselves.
        use_distributed_sampler=False,
    )


def _final_metrics(rows: list[dict], module: PAUClassifier) -> dict:
    accs = [r["test_acc"] for r in rows if not math.isnan(r["test_acc"])]
    seconds = sum(r["epoch_seconds"] for r in rows)
    final = {
        "status": "finished",
        "epochs": len(rows),
        "test_acc": rows[-1]["test_acc"],
        "best_test_acc": max(accs) if accs else float("nan"),
        "train_loss": rows[-1]["train_loss"],
    }
    if module.top5:
        final["test_acc5"] = rows[-1]["test_acc5"]
    final.update(
        seconds=seconds,
        seconds_per_epoch=seconds / len(rows),
        num_parameters=sum(p.numel() for p in module.model.parameters()),
    )
    return final


def run(cfg, callbacks: Iterable[L.Callback] = (), model=None) -> dict:
    """Train one configuration into ``paths.run_dir``; returns its final metrics.

    Finished already: returns the saved ``final_metrics.json`` (plus ``skipped: True``)
    without training. Interrupted: resumes from ``checkpoints/last.ckpt``. A folder
    holding a run of another configuration (beyond ``NON_RESULT_KEYS``) raises
    :class:`RunConflictError`. ``callbacks`` are added to the Trainer; ``model``
    replaces the network built from the configuration. Stopped before
    ``trainer.max_epochs`` (``trainer.max_time``): ``{"status": "interrupted", ...}``.
    """
    cfg = resolved(cfg)
    folder = Path(cfg["paths"]["run_dir"])
    rank_zero = rank_zero_only.rank == 0  # from the launch environment; set before any Trainer
    final = _read_json(folder / FINAL)
    finished = bool(final) and final.get("status") == "finished"
    if rank_zero:
        _check_config(folder, cfg, finished)
    if finished:
        return {**final, "run_dir": str(folder), "skipped": True}

    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    if rank_zero:
        datamodule.verify()  # a missing data set fails here, before anything is written
    module = PAUClassifier(cfg, model=model)

    if rank_zero:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG).write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
        _ensure_wandb_id(cfg, folder)
    # Process-wide state the Trainer changes, restored afterwards for whatever runs next.
    launch_env = {k: os.environ.get(k) for k in DDP_ENV}
    determinism = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    trainer = build_trainer(cfg, folder, callbacks, top5=module.top5)
    ckpt = folder / LAST_CKPT
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt.is_file() else None)
    except BaseException:
        if rank_zero:
            (folder / ERROR).write_text(traceback.format_exc())
        raise
    finally:
        # The next run in this process (a multirun job) must start its own DDP
        # processes: with this run's process group or LOCAL_RANK still set, Lightning
        # would wait for processes that have exited.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        if cfg["logger"]["wandb"]["enabled"] and rank_zero:
            import wandb

            wandb.finish()  # Lightning leaves it open; the next run in this process needs its own
        for key, value in launch_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        torch.use_deterministic_algorithms(determinism[0], warn_only=determinism[1])

    rows = next(cb for cb in trainer.callbacks if isinstance(cb, EpochRecorder)).rows
    if trainer.state.status != TrainerStatus.FINISHED or trainer.current_epoch < trainer.max_epochs or not rows:
        return {"status": "interrupted", "epochs": len(rows), "run_dir": str(folder)}
    final = _final_metrics(rows, module)
    if rank_zero:
        (folder / FINAL).write_text(json.dumps(final, indent=2))
        (folder / ERROR).unlink(missing_ok=True)
    return {**final, "run_dir": str(folder), "skipped": False}
