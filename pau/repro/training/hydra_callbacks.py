"""Hydra callbacks of ``pau-train`` and ``pau-prune``: checks that must come before Hydra
creates a run's folder, and one GPU set per job for a sweep on one multi-GPU node."""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..errors import USER_ERROR_EXIT, UserError, format_user_error, full_error_requested
from ..runs import parse_devices, read_final, validate

log = logging.getLogger(__name__)


def _refuse(prog: str, error: UserError) -> None:
    # Hydra reports exceptions from callbacks as stack traces: a user error leaves as one line.
    if full_error_requested():
        raise error
    print(format_user_error(prog, error), file=sys.stderr, flush=True)
    raise SystemExit(USER_ERROR_EXIT)


def _task_values(config: DictConfig) -> dict:
    return {k: OmegaConf.to_container(config[k], resolve=True) if OmegaConf.is_config(config[k]) else config[k]
            for k in ("seed", "data", "trainer") if k in config}


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class RunFolderChecks(Callback):
    """Before Hydra writes anything: the values the schema's types cannot check, and
    that the folder the run goes to can be written (a finished run in a read-only
    folder is fine: it is only read)."""

    def __init__(self, prog: str = "pau-train"):
        self.prog = prog

    def _check(self, config: DictConfig, folder: str) -> None:
        try:
            validate(_task_values(config))
            path = Path(folder)
            if read_final(path) is None:
                target = _nearest_existing(path.absolute())
                if not target.is_dir():
                    raise UserError(f"cannot write the run folder {path} ({target} is a file, not a folder)",
                                    hint="choose another paths.runs_dir")
                if not os.access(target, os.W_OK):
                    raise UserError(f"cannot write the run folder {path} ({target} is read-only)",
                                    hint="choose a folder you may write, e.g. paths.runs_dir=$HOME/runs")
        except UserError as error:
            _refuse(self.prog, error)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, str(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # The sweep's own values; each job's are checked again when it runs.
        self._check(config, str(config.hydra.sweep.dir))


_claimed: dict[str, Any] = {}  # this process's device slot, held for its lifetime


class DevicesPerJob(Callback):
    """Each job of a sweep on ``gpus`` (e.g. ``[0,1,2,3,4,5,6,7]``), ``per_job`` at a
    time (one: DDP cannot start inside a launcher's worker). A job process claims a
    free set (a file lock under ``lock_dir``) before CUDA starts and keeps it while it
    lives (a process cannot change its visible devices once CUDA runs), and sees only
    that set through ``CUDA_VISIBLE_DEVICES``."""

    def __init__(self, gpus: Any, per_job: Any = 1, lock_dir: str = "/tmp/pau-device-locks", poll_s: float = 1.0):
        devices = parse_devices(gpus)
        per = int(per_job) if str(per_job).isdigit() else 1
        self.slots = [devices[i:i + per] for i in range(0, len(devices) - per + 1, per)]
        self.lock_dir = Path(lock_dir)
        self.poll_s = poll_s

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from filelock import FileLock, Timeout

        prog = str(config.hydra.job.name)
        if not self.slots:
            _refuse(prog, UserError("hydra.callbacks.devices.gpus lists fewer GPUs than one job uses"))
        if str(config.trainer.strategy).startswith("ddp"):
            # Lightning starts a DDP job's other processes by re-running the command line,
            # which in a launcher's worker process is not the job's.
            _refuse(prog, UserError("launcher=gpu_node runs one GPU per job, without DDP",
                                    hint="use trainer=gpu, or run DDP sweeps with launcher=local or submitit_slurm"))
        if "slot" not in _claimed:
            self.lock_dir.mkdir(parents=True, exist_ok=True)
            while "slot" not in _claimed:
                for slot in self.slots:
                    lock = FileLock(str(self.lock_dir / f"gpu{'-'.join(slot)}.lock"))
                    try:
                        lock.acquire(timeout=0)
                    except Timeout:
                        continue
                    _claimed.update(slot=slot, lock=lock)
                    break
                else:
                    time.sleep(self.poll_s)
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(_claimed["slot"])
        log.info("job %s: CUDA_VISIBLE_DEVICES=%s", config.hydra.job.get("num", 0), os.environ["CUDA_VISIBLE_DEVICES"])
