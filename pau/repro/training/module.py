"""``PAUClassifier``: image classification with the paper's optimiser set-up."""
from __future__ import annotations

import bisect
import time
from typing import Any, Mapping

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from pau.activations import split_parameters
from .build import build_model, resolved


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The RNG seed of one epoch on one process: randomness (augmentation, RPAU noise,
    RReLU slopes) depends on (seed, epoch, rank) only, so a resumed run repeats it."""
    return (seed * 1_000_003 + epoch) * 1_009 + rank


def lr_factor(schedule: Mapping[str, Any], epoch: int) -> float:
    """Multiplier of the initial lr in (0-based) ``epoch`` under ``schedule``."""
    name = schedule["name"]
    if name == "constant":
        return 1.0
    if name == "exponential":
        return schedule["gamma"] ** epoch
    if name == "multistep":
        return schedule["gamma"] ** bisect.bisect_right(sorted(schedule["milestones"]), epoch)
    raise ValueError(f"unknown schedule {name!r}; valid: constant, exponential, multistep")


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
        optim = self.config["optim"]
        groups = split_parameters(self.model)
        act = list(groups["pau"])
        if optim["act_params"] == "learnable":
            act += groups["activation"]
        elif optim["act_params"] == "pau":
            groups["network"] = groups["network"] + groups["activation"]
        else:
            raise ValueError(f"optim.act_params must be 'pau' or 'learnable', got {optim['act_params']!r}")
        net = [p for p in groups["network"] if p.requires_grad]
        act = [p for p in act if p.requires_grad]
        out = [{"params": net, "lr": optim["lr"], "weight_decay": optim["weight_decay"], "name": "network"}]
        if act:
            act_lr = optim["lr"] if optim["act_lr"] is None else optim["act_lr"]
            act_wd = optim["weight_decay"] if optim["act_weight_decay"] is None else optim["act_weight_decay"]
            out.append({"params": act, "lr": act_lr, "weight_decay": act_wd, "name": "activation"})
        return out

    def configure_optimizers(self):
        optim, schedule = self.config["optim"], self.config["schedule"]
        groups = self.parameter_groups()
        if optim["name"] == "sgd":
            optimizer = torch.optim.SGD(groups, lr=optim["lr"], momentum=optim["momentum"], nesterov=optim["nesterov"])
        elif optim["name"] == "adam":
            optimizer = torch.optim.Adam(groups, lr=optim["lr"], betas=tuple(optim["betas"]))
        else:
            raise ValueError(f"unknown optimiser {optim['name']!r}; valid: adam, sgd")
        net_factor = lambda epoch: lr_factor(schedule, epoch)  # noqa: E731
        if schedule["act"] not in ("same", "constant"):
            raise ValueError(f"schedule.act must be 'same' or 'constant', got {schedule['act']!r}")
        act_factor = net_factor if schedule["act"] == "same" else (lambda epoch: 1.0)
        factors = [net_factor, act_factor][: len(groups)]
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
        if row["act_lr"] == row["act_lr"]:  # not NaN: there is an activation group
            logged["act_lr"] = row["act_lr"]
        self.log_dict(logged, on_step=False, on_epoch=True)
        return row
