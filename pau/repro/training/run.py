"""``run(cfg)``: one training run into its own folder, idempotently.

The folder's contract (file names, status, identity, the lock) is :mod:`pau.repro.runs`.
Calling ``run`` again with the same configuration returns a finished run's metrics
without training and resumes an interrupted one from its last checkpoint (its W&B run
too); a run that stopped before its first checkpoint starts again from scratch, even
with another configuration; a folder holding another configuration is never written.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import traceback
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, Timer
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf

from .. import runs
from ..errors import UserError
from ..runs import RunConflictError, differing_keys  # noqa: F401  (re-exported)
from .build import build, build_datamodule, resolved
from .callbacks import EpochRecorder, ReplicaCheck, srelu_warmup
from .module import PAUClassifier

log = logging.getLogger("pau.repro.training")
DDP_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # set by Lightning's launcher
# What pau-train.log collects: the root logger (ours propagate to it) and Lightning's (they do not).
LOGGER_NAMES = ("", "lightning.pytorch", "lightning.fabric")


def uses_wandb(cfg: dict) -> bool:
    return cfg["logger"].get("wandb") is not None


def build_loggers(cfg: dict, folder: Path) -> list:
    """The ``logger`` group's loggers (each node's ``_target_``), writing into ``folder``."""
    loggers = []
    if cfg["logger"].get("csv") is not None:
        loggers.append(build(cfg["logger"]["csv"], save_dir=str(folder)))
    if uses_wandb(cfg):
        # One W&B run per run folder: a resumed run continues it.
        loggers.append(build(cfg["logger"]["wandb"], name=cfg["paths"]["run_name"], id=runs.wandb_id(folder),
                             resume="allow", save_dir=str(folder), _convert_="all"))
    return loggers


def build_trainer(cfg: dict, folder: Path, callbacks: Iterable[L.Callback] = (), top5: bool = False,
                  penalty: bool = False) -> L.Trainer:
    """A Trainer writing into ``folder``: ``metrics.csv`` (with a ``train_penalty`` column
    if ``penalty``), ``checkpoints/last.ckpt``, loggers; SReLU's warm-up if asked for."""
    # Not Lightning's: threads (cpu_threads), max_time (a Timer checked at epoch ends only,
    # since an epoch cut short would count as done on resume).
    options = {k: v for k, v in cfg["trainer"].items() if v is not None and k not in ("threads", "max_time")}
    extra = []
    if cfg["trainer"].get("max_time") is not None:
        extra.append(Timer(duration=cfg["trainer"]["max_time"], interval="epoch"))
    warmup = srelu_warmup(cfg)
    if warmup is not None:
        extra.append(warmup)
    checkpoint = ModelCheckpoint(
        dirpath=str(folder / runs.LAST_CKPT.parent), filename=runs.LAST_CKPT.stem, monitor=None, save_top_k=1,
        every_n_epochs=cfg["checkpoint"]["every_n_epochs"], save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    return build(
        options,  # the trainer group's _target_: lightning.Trainer
        _convert_="all",
        default_root_dir=str(folder),
        callbacks=[EpochRecorder(runs.metrics_path(folder), top5=top5, penalty=penalty),
                   ReplicaCheck(folder / runs.REPLICAS),
                   *extra, *callbacks, checkpoint],
        logger=build_loggers(cfg, folder) or False,
        # The data modules shard their batches across processes themselves.
        use_distributed_sampler=False,
    )


def _final_metrics(rows: list[dict], module: PAUClassifier) -> dict:
    accs = [r["test_acc"] for r in rows if not math.isnan(r["test_acc"])]
    seconds = sum(r["epoch_seconds"] for r in rows)
    final = {
        "status": runs.FINISHED,
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


def check_checkpoint(path: Path) -> None:
    """A :class:`UserError` naming ``path`` if it is not a whole checkpoint (torch saves zip archives)."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise UserError(f"the checkpoint {path} is damaged ({exc})",
                        hint=f"delete it to restart this run from epoch 1, or restore it from a copy: "
                             f"rm {path}") from None


def run_folder(cfg: dict, model=None) -> Path:
    """Where ``cfg`` trains: ``paths.run_dir``, except that a network given from Python
    replaces the model level of the default folder name (it is not the configured model)."""
    paths = cfg["paths"]
    if model is not None and paths["run_dir"] == f"{paths['runs_dir']}/{paths['run_name']}":
        levels = paths["run_name"].split("/")
        levels[1] = runs.python_model_node(model)["name"]
        return Path(paths["runs_dir"], *levels)
    return Path(paths["run_dir"])


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Copy the log of this process (ours and Lightning's) into ``path`` while the block runs."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    handler.setLevel(logging.INFO)
    loggers = [logging.getLogger(name) for name in LOGGER_NAMES]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.getEffectiveLevel() > logging.INFO:
            lg.setLevel(logging.INFO)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Fix the intra-op thread count (results on the CPU depend on it), then restore it."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _decide(folder: Path, cfg: dict, under_lock: bool) -> dict | None:
    """A finished run's result to return, None to train; raises on another configuration."""
    saved = runs.read_config(folder)
    final = runs.read_final(folder)
    keys = differing_keys(saved, cfg) if saved is not None else []
    if final is not None and not keys:
        return {**final, "run_dir": str(folder), "skipped": True}
    if saved is None:
        return None
    has_checkpoint = (folder / runs.LAST_CKPT).is_file()
    if keys and (final is not None or has_checkpoint):
        state = "a finished" if final is not None else "an unfinished"
        raise RunConflictError(
            f"{folder} holds {state} run with a different configuration "
            f"({runs.describe_changes(saved, cfg, keys)})",
            hint="use another runs folder (e.g. paths.runs_dir=runs_other) to keep both, "
                 f"or delete {folder} to replace it")
    if under_lock and not has_checkpoint:
        why = "another configuration" if keys else "the same configuration"
        log.warning("replacing %s: its last attempt stopped before its first checkpoint; "
                    "starting it again from epoch 1 with %s", folder, why)
        for name in (runs.CONFIG, runs.METRICS, runs.ERROR, runs.RUN_INFO, runs.REPLICAS):
            (folder / name).unlink(missing_ok=True)
        shutil.rmtree(folder / runs.HYDRA_DIR, ignore_errors=True)
    return None


def _write_hydra_record(folder: Path, task_cfg) -> None:
    """Hydra's ``.hydra/`` record of the command, written once the folder is known to be this run's."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if Path(hydra_cfg.runtime.output_dir).resolve() != folder.resolve():
        return
    out = folder / runs.HYDRA_DIR
    out.mkdir(exist_ok=True)
    task = OmegaConf.create({k: v for k, v in OmegaConf.to_container(task_cfg).items() if k != "hydra"})
    runs.write_atomic(out / "config.yaml", OmegaConf.to_yaml(task))
    runs.write_atomic(out / "hydra.yaml", OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})))
    runs.write_atomic(out / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(list(hydra_cfg.overrides.task))))


def run(cfg, callbacks: Iterable[L.Callback] = (), model=None, run_dir: str | os.PathLike | None = None) -> dict:
    """Train one configuration into its run folder; returns its final metrics.

    The folder is ``run_dir`` if given (``pau-train`` passes Hydra's output directory),
    else ``paths.run_dir``. Finished already: returns the saved ``final_metrics.json``
    (plus ``skipped: True``) without training. Interrupted: resumes from
    ``checkpoints/last.ckpt``. Another process training it: waits for it
    (``paths.lock_timeout``), then skips or resumes. A folder holding a run of another
    configuration raises :class:`RunConflictError`, unless that run stopped before its
    first checkpoint (then it is replaced). ``callbacks`` are added to the Trainer;
    ``model`` replaces the network built from the configuration (recorded as its class
    and parameter count, in a folder of its own). Stopped before ``trainer.max_epochs``
    (``trainer.max_time``): ``{"status": "interrupted", ...}``.
    """
    task_cfg = cfg
    cfg = resolved(cfg)
    runs.validate(cfg)
    srelu_warmup(cfg)  # its keys are the activation's, which the schema does not type
    named = runs.named_overrides(task_cfg if OmegaConf.is_config(task_cfg) else OmegaConf.create(cfg),
                                 runs.task_overrides(task_cfg))
    folder = Path(run_dir) if run_dir is not None else run_folder(cfg, model)
    if model is not None:
        cfg["model"] = runs.python_model_node(model)
    cfg["paths"]["run_dir"] = str(folder)
    rank_zero = rank_zero_only.rank == 0  # from the launch environment; set before any Trainer

    if rank_zero:
        done = _decide(folder, cfg, under_lock=False)  # reads only: a read-only finished run is fine
        if done is not None:
            log.info("%s finished already: nothing to train", folder)
            return done
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    if rank_zero:
        datamodule.verify()  # missing data fails here, before anything is written
        runs.ensure_writable(folder)
    lock = runs.locked(folder, cfg["paths"]["lock_timeout"], say=log.warning) if rank_zero else contextlib.nullcontext()
    with lock, (_log_to(folder / runs.LOG) if rank_zero else contextlib.nullcontext()), \
            cpu_threads(cfg["trainer"].get("threads")):
        if rank_zero:
            done = _decide(folder, cfg, under_lock=True)  # another process may have trained it meanwhile
            if done is not None:
                log.info("%s was finished by another process: nothing to train", folder)
                return done
        return _train(cfg, task_cfg, folder, named, datamodule, callbacks, model, rank_zero)


def _train(cfg: dict, task_cfg, folder: Path, named: dict, datamodule, callbacks, model, rank_zero: bool) -> dict:
    module = PAUClassifier(cfg, model=model)
    ckpt = folder / runs.LAST_CKPT
    if rank_zero:
        if ckpt.is_file():
            check_checkpoint(ckpt)
            log.info("resuming %s from %s", folder, ckpt)
        runs.write_atomic(folder / runs.CONFIG, OmegaConf.to_yaml(OmegaConf.create(cfg)))
        runs.write_atomic(folder / runs.RUN_INFO, OmegaConf.to_yaml(OmegaConf.create(
            runs.run_info(cfg, named, model))))
        _write_hydra_record(folder, task_cfg)
        if uses_wandb(cfg):
            runs.wandb_id(folder)
        log.info("training %s (cpu threads: %s)", folder, torch.get_num_threads())
    # Process-wide state the Trainer changes, restored afterwards for whatever runs next.
    launch_env = {k: os.environ.get(k) for k in DDP_ENV}
    determinism = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    trainer = build_trainer(cfg, folder, callbacks, top5=module.top5, penalty=module.penalised)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt.is_file() else None)
    except BaseException:
        if rank_zero:
            (folder / runs.ERROR).write_text(traceback.format_exc())
        raise
    finally:
        # The next run in this process (a multirun job) must start its own DDP
        # processes: with this run's process group or LOCAL_RANK still set, Lightning
        # would wait for processes that have exited.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        if uses_wandb(cfg) and rank_zero:
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
        log.info("%s stopped after epoch %d; the same command resumes it", folder, len(rows))
        return {"status": runs.INTERRUPTED, "epochs": len(rows), "run_dir": str(folder)}
    final = _final_metrics(rows, module)
    if rank_zero:
        import json

        runs.write_atomic(folder / runs.FINAL, json.dumps(final, indent=2))
        (folder / runs.ERROR).unlink(missing_ok=True)
        log.info("%s finished: test_acc %.4f after %d epochs", folder, final["test_acc"], final["epochs"])
    return {**final, "run_dir": str(folder), "skipped": False}
