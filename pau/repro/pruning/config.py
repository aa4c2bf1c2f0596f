"""The schema of ``conf/prune.yaml``: the training schema plus a ``pruning`` group."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from hydra.core.config_store import ConfigStore
from omegaconf import SI

from ..training.config import PathsConfig, TrainConfig, register_configs as register_train_configs


@dataclass
class TimingConfig:
    """How inference time per batch is measured (a property of the machine, not the result)."""

    batch_size: int = SI("${data.batch_size}")
    repeats: int = 20  # the fastest of this many timed forward passes
    warmup: int = 3
    device: str = "auto"  # auto: the GPU when the trainer uses one, else cpu


@dataclass
class PruningConfig:
    # Pruning levels: after level p, every convolution has lost p% of its units
    # (relative_to: original) or p% of those left by the previous level (current).
    levels: List[float] = field(default_factory=lambda: [10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    criterion: str = "sum"  # sum: lowest sum of a filter's weights (the paper); l1: lowest L1 norm
    relative_to: str = "original"
    # Weights of a pruned network before retraining: init (the surviving weights'
    # values at initialisation, lottery ticket) or random (a fresh draw).
    reset: str = "init"
    keep_checkpoints: bool = False  # keep each finished level's last.ckpt (else only its weights)
    timing: TimingConfig = field(default_factory=TimingConfig)


@dataclass
class PrunePathsConfig(PathsConfig):
    run_name: str = SI("prune/${pau.run_name:}")


@dataclass
class PruneConfig(TrainConfig):
    paths: PrunePathsConfig = field(default_factory=PrunePathsConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)


# Keys that do not change what a pruning run computes (beyond the training's own).
NON_RESULT_PRUNING_KEYS = ("pruning.timing", "pruning.keep_checkpoints", "pruning.levels")


def register_configs() -> None:
    register_train_configs()
    ConfigStore.instance().store(name="prune_schema", node=PruneConfig)
