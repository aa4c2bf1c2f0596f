"""Callbacks writing a run's per-epoch record and checking replicas stay in sync."""
from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from pau.activations import split_parameters

log = logging.getLogger("pau.repro.training")
COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "act_lr", "epoch_seconds"]
COLUMNS_TOP5 = COLUMNS[:5] + ["test_acc5"] + COLUMNS[5:]


class EpochRecorder(L.Callback):
    """Appends one row per finished epoch to ``metrics.csv``.

    The rows also live in the checkpoint (this callback's state), and the file is
    rewritten from them when a run resumes, so ``metrics.csv`` always matches the
    checkpoint it continues from, whenever the previous attempt stopped. Runs before
    the checkpoint callback saves (non-monitoring callbacks go first), so a
    checkpoint holds its own epoch's row.
    """

    def __init__(self, path: str | Path, top5: bool = False):
        self.path = Path(path)
        self.columns = COLUMNS_TOP5 if top5 else COLUMNS
        self.rows: list[dict[str, Any]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])

    @rank_zero_only
    def _write(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)

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
