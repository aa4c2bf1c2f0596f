"""Callbacks writing a run's per-epoch record, checking replicas stay in sync, and
running SReLU's warm-up."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from pau.activations import freeze_srelu, init_srelu_from_batch, split_parameters
from pau.activations.units import SReLU

from .. import runs
from ..errors import UserError

log = logging.getLogger("pau.repro.training")
COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "act_lr", "epoch_seconds"]
COLUMNS_TOP5 = COLUMNS[:5] + ["test_acc5"] + COLUMNS[5:]
PENALTY_COLUMN = "train_penalty"  # after train_loss, in runs whose loss has a penalty term (APL's slope_penalty)


def metrics_columns(top5: bool = False, penalty: bool = False) -> list[str]:
    """The columns of ``metrics.csv``."""
    columns = list(COLUMNS_TOP5 if top5 else COLUMNS)
    if penalty:
        columns.insert(columns.index("train_loss") + 1, PENALTY_COLUMN)
    return columns


class EpochRecorder(L.Callback):
    """Appends one row per finished epoch to ``metrics.csv``.

    The rows also live in the checkpoint (this callback's state), and the file is
    rewritten from them when a run resumes, so ``metrics.csv`` always matches the
    checkpoint it continues from, whenever the previous attempt stopped. Runs before
    the checkpoint callback saves (non-monitoring callbacks go first), so a
    checkpoint holds its own epoch's row.
    """

    def __init__(self, path: str | Path, top5: bool = False, penalty: bool = False):
        self.path = Path(path)
        self.columns = metrics_columns(top5, penalty)
        self.rows: list[dict[str, Any]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])

    @rank_zero_only
    def _write(self) -> None:
        runs.write_csv_atomic(self.path, self.columns, self.rows)

    def on_fit_start(self, trainer, pl_module) -> None:
        self._write()  # drops rows of epochs after the checkpoint being resumed

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        row = pl_module.epoch_summary()
        self.rows.append(row)
        self._write()
        if trainer.is_global_zero:
            log.info("epoch %d/%d: train_loss %.4f, train_acc %.4f, test_loss %.4f, test_acc %.4f (%.1f s)",
                     row["epoch"], trainer.max_epochs, row["train_loss"], row["train_acc"], row["test_loss"],
                     row["test_acc"], row["epoch_seconds"])


class ReplicaCheck(L.Callback):
    """With several processes, compares parameters across them after each epoch (DDP
    must keep them equal; a custom kernel or unsynchronised noise could break that):
    activation parameters entry by entry, the network's through a checksum (sum and
    sum of squares), so little is gathered. Writes the largest difference per group
    to ``replicas.json`` and warns if any is non-zero."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.world_size < 2:
            return
        report = {"world_size": trainer.world_size, "epoch": pl_module.current_epoch + 1}
        for name, params in split_parameters(pl_module.model).items():
            report[f"{name}_count"] = sum(p.numel() for p in params)
            if not params:  # the same on every process, so no one waits in all_gather
                report[f"{name}_max_abs_diff"] = 0.0
                continue
            flat = torch.cat([p.detach().flatten() for p in params])
            if name == "network":
                flat = torch.stack([flat.double().sum(), flat.double().square().sum()])
            gathered = pl_module.all_gather(flat)  # (world_size, n)
            report[f"{name}_max_abs_diff"] = (gathered - gathered[:1]).abs().max().item()
        if trainer.is_global_zero:
            self.path.write_text(json.dumps(report, indent=2))
            bad = {k: v for k, v in report.items() if k.endswith("diff") and not (v == 0.0 or math.isnan(v))}
            if bad:
                rank_zero_warn(f"parameters differ across processes: {bad}")


DDP_NEEDS = ("activation.warmup_epochs with several processes: DDP must be told that the fixed SReLU "
             "parameters get no gradient")
DDP_HINT = "use trainer.strategy=ddp_find_unused_parameters_true"


class SReLUWarmup(L.Callback):
    """Jin et al.'s schedule for SReLU: every SReLU of the network stays fixed during
    the first ``warmup_epochs`` epochs (no gradient, so no optimiser moves it); at the
    end of the last of them, t_r of every unit is set per channel to the ``quantile``
    of that unit's inputs on the first training batch of that epoch (augmented and
    normalised, as the network saw it; ``init_srelu_from_batch``, in eval mode), and
    all four parameters learn from the next epoch on.

    Whether the units are fixed is decided at the start of every epoch from the epoch
    number, so a run resumed from a checkpoint is fixed exactly when the uninterrupted
    run was; the new t_r is part of the checkpoint written at that epoch's end. With
    several processes, rank 0's thresholds are sent to all.
    """

    def __init__(self, warmup_epochs: int, quantile: float = 0.9):
        self.warmup_epochs, self.quantile = int(warmup_epochs), float(quantile)
        self._batch: torch.Tensor | None = None

    def _last_warmup_epoch(self, trainer) -> bool:
        return trainer.current_epoch == self.warmup_epochs - 1

    def on_fit_start(self, trainer, pl_module) -> None:
        if not any(isinstance(m, SReLU) for m in pl_module.model.modules()):
            raise UserError("activation.warmup_epochs is SReLU's warm-up, but the network has no SReLU unit")
        if trainer.world_size > 1 and not getattr(trainer.strategy, "_ddp_kwargs", {}).get("find_unused_parameters"):
            raise UserError(DDP_NEEDS, hint=DDP_HINT)
        if trainer.max_epochs is not None and 0 <= trainer.max_epochs <= self.warmup_epochs:
            rank_zero_warn(f"activation.warmup_epochs={self.warmup_epochs} covers all {trainer.max_epochs} "
                           f"epochs: the SReLU units stay at their start")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        freeze_srelu(pl_module.model, trainer.current_epoch < self.warmup_epochs)
        self._batch = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._batch is None and self._last_warmup_epoch(trainer):
            self._batch = batch[0].detach()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._last_warmup_epoch(trainer):
            return
        if self._batch is None:
            raise RuntimeError("SReLUWarmup saw no training batch in the last warm-up epoch")
        thresholds = init_srelu_from_batch(pl_module.model, self._batch, self.quantile)
        self._batch = None
        if trainer.world_size > 1:  # each process saw its own batch: rank 0's values for all
            thresholds = trainer.strategy.broadcast({k: v.cpu() for k, v in thresholds.items()}, src=0)
            units = dict(pl_module.model.named_modules())
            with torch.no_grad():
                for name, t in thresholds.items():
                    units[name].t_right.copy_(t.to(units[name].t_right))
        freeze_srelu(pl_module.model, False)
        log.info("SReLU warm-up over after epoch %d: t_right of %d units set to the %.2f quantile of their "
                 "inputs", trainer.current_epoch + 1, len(thresholds), self.quantile)


def srelu_warmup(cfg: dict) -> SReLUWarmup | None:
    """The SReLU warm-up callback ``cfg`` asks for (``activation.warmup_epochs`` > 0), or
    None; a :class:`UserError` naming the key for a value it cannot run."""
    activation = cfg.get("activation") or {}
    warmup = activation.get("warmup_epochs", 0)
    quantile = activation.get("threshold_quantile", 0.9)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise UserError(f"activation.warmup_epochs={warmup!r} is invalid: a whole number of epochs, 0 for none")
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0.0 <= quantile <= 1.0:
        raise UserError(f"activation.threshold_quantile={quantile!r} is invalid: a number from 0 to 1 (e.g. 0.9)")
    if warmup == 0:
        return None
    trainer = cfg.get("trainer") or {}
    strategy = str(trainer.get("strategy", "auto"))
    if strategy.startswith("ddp") and "find_unused_parameters_true" not in strategy:
        raise UserError(f"{DDP_NEEDS} (trainer.strategy={strategy})", hint=DDP_HINT)
    return SReLUWarmup(warmup, quantile)
