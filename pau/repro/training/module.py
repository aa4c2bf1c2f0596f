"""``PAUClassifier``: image classification with the paper's optimiser set-up."""
from __future__ import annotations

import time
from typing import Any, Mapping

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from pau.activations import regularization

from .build import build, build_model, resolved
from .optim import parameter_groups


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The RNG seed of one epoch on one process: randomness (augmentation, RPAU noise,
    RReLU slopes) depends on (seed, epoch, rank) only, so a resumed run repeats it."""
    return (seed * 1_000_003 + epoch) * 1_009 + rank


def lr_factor(schedule: Mapping[str, Any], epoch: int) -> float:
    """Multiplier of the initial lr in (0-based) ``epoch`` under the ``schedule`` group."""
    return build(schedule).factor(epoch)


class PAUClassifier(L.LightningModule):
    """Cross-entropy classification of ``model`` with one optimiser, two groups.

    Args:
        config: the run's configuration (``optim``, ``schedule``, ``seed``,
            ``data.num_classes``; with ``model``/``activation``/``data`` it also builds
            the network, so ``load_from_checkpoint(path)`` needs nothing else).
        model: a network to train instead of building it from ``config``
            (e.g. a pruned one); pass it again to ``load_from_checkpoint``.

    The activation group (``optim.act_params``: PAU/RPAU coefficients, or every
    learnable activation parameter) gets its own lr and weight decay and, with
    ``schedule.act: constant``, keeps its lr while the network's decays.
    The training loss is the cross-entropy plus ``pau.activations.regularization(model)``
    (APL's slope penalty with ``activation.slope_penalty`` > 0; nothing is added where
    every unit's penalty is 0, the default). ``train/loss`` is the cross-entropy alone,
    comparable across units; a run with a penalty also logs its mean, ``train/penalty``.
    Logged per epoch: ``train/loss``, ``train/acc``, ``test/loss``, ``test/acc``
    (``test/acc5`` with ``top5``), ``lr``, ``act_lr``; :meth:`epoch_summary` returns them.
    """

    def __init__(self, config: Mapping[str, Any], model: nn.Module | None = None, top5: bool | None = None):
        super().__init__()
        config = resolved(config)
        self.save_hyperparameters({"config": config, "top5": top5})
        self.config = config
        if model is None:
            model = build_model(config)
        self.model = model
        num_classes = int(config["data"]["num_classes"])
        self.top5 = num_classes > 5 and (top5 if top5 is not None else num_classes >= 1000)
        acc = lambda k: MulticlassAccuracy(num_classes=num_classes, top_k=k, average="micro")  # noqa: E731
        self.train_loss, self.train_acc = MeanMetric(), acc(1)
        # Whether the loss has a penalty term: fixed per run (metrics.csv's columns).
        with torch.no_grad():
            self.penalised = bool(regularization(self.model).ne(0).item())
        self.train_penalty = MeanMetric() if self.penalised else None
        self.test_loss, self.test_acc = MeanMetric(), acc(1)
        self.test_acc5 = acc(5) if self.top5 else None
        self._test_stats: dict[str, float] = {}
        self._epoch_start = 0.0
        self._epoch_lrs: tuple[float, float] = (float("nan"), float("nan"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    # -- optimisation ------------------------------------------------------------------
    def parameter_groups(self) -> list[dict]:
        """[network group, activation group (if non-empty)] with their lr and weight decay."""
        optim = {k: v for k, v in self.config["optim"].items() if k != "_target_"}
        return parameter_groups(self.model, optim["lr"], optim["weight_decay"], optim["act_params"],
                                optim["act_lr"], optim["act_weight_decay"])

    def configure_optimizers(self):
        # Both groups' targets (conf/optim/*.yaml, conf/schedule/*.yaml) build them.
        optimizer = build(self.config["optim"], self.model)
        schedule = build(self.config["schedule"])
        factors = [schedule.factor, schedule.act_factor][: len(optimizer.param_groups)]
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factors)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    # -- steps -------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        images, targets = batch
        logits = self(images)
        loss = F.cross_entropy(logits, targets)
        self.train_loss.update(loss.detach(), weight=len(targets))
        self.train_acc.update(logits.detach(), targets)
        self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
        if self.train_penalty is not None:
            penalty = regularization(self.model)
            self.train_penalty.update(penalty.detach(), weight=len(targets))
            loss = loss + penalty
        return loss

    def validation_step(self, batch, batch_idx):
        images, targets = batch
        logits = self(images)
        self.test_loss.update(F.cross_entropy(logits, targets), weight=len(targets))
        self.test_acc.update(logits, targets)
        if self.test_acc5 is not None:
            self.test_acc5.update(logits, targets)

    test_step = validation_step

    # -- epoch bookkeeping -------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        torch.manual_seed(epoch_seed(int(self.config["seed"]), self.current_epoch, self.global_rank))
        lrs = [group["lr"] for group in self.trainer.optimizers[0].param_groups]
        self._epoch_lrs = (lrs[0], lrs[1] if len(lrs) > 1 else float("nan"))
        self._epoch_start = time.perf_counter()

    def _compute_test(self) -> dict[str, float]:
        stats = {"test_loss": self.test_loss.compute().item(), "test_acc": self.test_acc.compute().item()}
        if self.test_acc5 is not None:
            stats["test_acc5"] = self.test_acc5.compute().item()
        for metric in (self.test_loss, self.test_acc, self.test_acc5):
            if metric is not None:
                metric.reset()
        return stats

    def on_validation_epoch_end(self) -> None:
        stats = self._compute_test()
        if not self.trainer.sanity_checking:
            self._test_stats = stats
        self.log_dict({k.replace("_", "/", 1): v for k, v in stats.items()}, sync_dist=False)
        self.log("test_acc", stats["test_acc"], prog_bar=True, logger=False)  # the progress bar's last test accuracy

    def on_test_epoch_end(self) -> None:
        self._test_stats = self._compute_test()
        self.log_dict({k.replace("_", "/", 1): v for k, v in self._test_stats.items()})

    def epoch_summary(self) -> dict[str, float]:
        """The finished epoch's numbers (a ``metrics.csv`` row); resets the train metrics.
        Call once per epoch, on every process (the metrics synchronise)."""
        nan = float("nan")
        row = {
            "epoch": self.current_epoch + 1,
            "train_loss": self.train_loss.compute().item(),
            "train_acc": self.train_acc.compute().item(),
            **({"train_penalty": self.train_penalty.compute().item()} if self.train_penalty is not None else {}),
            "test_loss": self._test_stats.get("test_loss", nan),
            "test_acc": self._test_stats.get("test_acc", nan),
        }
        if self.top5:
            row["test_acc5"] = self._test_stats.get("test_acc5", nan)
        row["lr"], row["act_lr"] = self._epoch_lrs
        row["epoch_seconds"] = time.perf_counter() - self._epoch_start
        self.train_loss.reset()
        self.train_acc.reset()
        self._test_stats = {}
        logged = {"train/loss": row["train_loss"], "train/acc": row["train_acc"], "lr": row["lr"]}
        if self.train_penalty is not None:
            self.train_penalty.reset()
            logged["train/penalty"] = row["train_penalty"]
        if row["act_lr"] == row["act_lr"]:  # not NaN: there is an activation group
            logged["act_lr"] = row["act_lr"]
        self.log_dict(logged, on_step=False, on_epoch=True)
        self.log("train_loss", row["train_loss"], on_step=False, on_epoch=True, prog_bar=True, logger=False)
        return row
