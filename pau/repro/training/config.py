"""The schema of ``conf/train.yaml``: structured configs, so a mistyped key or a value
of the wrong type fails at composition with Hydra's error.

Every group has a ``_target_`` that ``hydra.utils.instantiate`` builds with the group's
keys (pau.repro.training.build). One schema per group serves every option of that
group (e.g. ``DataConfig`` has the synthetic set's ``noise`` too); a target refuses a
key it does not use once it is changed from its default. ``activation`` is the
exception: its keys are the unit's own constructor arguments, checked when the unit
is built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, SI

from ..runs import NON_IDENTITY_KEYS, register_resolvers


@dataclass
class DataConfig:
    _target_: str = "pau.repro.data.create_datamodule"
    name: str = MISSING
    root: str = SI("${oc.env:PAU_DATA_ROOT,data}")  # folder holding MNIST/, FashionMNIST/, cifar-10-batches-py/, imagenet/
    download: bool = False
    batch_size: int = 256  # global: split across processes
    eval_batch_size: int = 1000
    num_workers: int = 0  # DataLoader workers (ImageNet); in-memory sets batch in the main process
    in_channels: int = 1
    num_classes: int = 10
    image_size: int = 32  # images are resized once, at load, to image_size x image_size
    mean: List[float] = field(default_factory=lambda: [0.0])
    std: List[float] = field(default_factory=lambda: [1.0])
    random_crop_padding: int = 0
    random_hflip: bool = False
    random_rotation: float = 0.0  # degrees: each training image turned by its own angle in [-d, d]
    train_subset: Optional[int] = None  # a fixed subset of this many training samples
    test_subset: Optional[int] = None
    drop_last: bool = False
    # synthetic only
    num_train: int = 512
    num_test: int = 256
    noise: float = 1.0
    data_seed: int = 0


@dataclass
class ModelConfig:
    _target_: str = "pau.models.create_model"
    name: str = MISSING
    weight_init: str = "pytorch"  # pytorch (each layer's default) | kaiming (torchvision's VGG scheme)


@dataclass
class OptimConfig:
    _target_: str = "pau.repro.training.optim.adam"  # called with the model
    name: str = "adam"  # adam | sgd
    lr: float = 0.002
    momentum: float = 0.0
    nesterov: bool = False
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    # The activation group: PAU/RPAU coefficients ("pau"), or every learnable
    # activation parameter ("learnable": also PReLU, Mixture, SLAF, APL, SReLU).
    act_params: str = "pau"
    act_lr: Optional[float] = None  # None: the network's lr
    act_weight_decay: Optional[float] = 0.0  # None: the network's weight decay


@dataclass
class ScheduleConfig:
    _target_: str = "pau.repro.training.optim.Constant"
    name: str = "constant"  # constant | exponential (lr * gamma^epoch) | multistep
    epochs: int = 100
    gamma: float = 1.0
    milestones: List[int] = field(default_factory=list)
    act: str = "same"  # the activation group's schedule: same | constant


@dataclass
class TrainerConfig:
    """Arguments of ``lightning.Trainer`` (passed through), except ``threads`` and
    ``max_time`` (which stops at an epoch's end here)."""

    _target_: str = "lightning.Trainer"
    accelerator: str = "cpu"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    max_epochs: int = SI("${schedule.epochs}")
    deterministic: Any = False  # True, False or "warn"
    benchmark: Optional[bool] = None
    gradient_clip_val: Optional[float] = None
    gradient_clip_algorithm: str = "norm"
    limit_train_batches: Any = None  # int: batches, float: fraction per epoch
    limit_val_batches: Any = None
    max_time: Optional[str] = None  # "DD:HH:MM:SS": stop cleanly, resume on the next call
    accumulate_grad_batches: int = 1
    sync_batchnorm: bool = False
    log_every_n_steps: int = 50
    num_sanity_val_steps: int = 0
    enable_progress_bar: bool = True
    enable_model_summary: bool = True
    # Not Lightning's: the CPU's intra-op thread count, fixed so a CPU run repeats
    # exactly on any machine (results depend on it); null leaves torch's default.
    threads: Optional[int] = None


@dataclass
class CheckpointConfig:
    every_n_epochs: int = 1  # last.ckpt is rewritten this often


@dataclass
class CSVLoggerConfig:
    """Lightning's step-level CSV log under ``logs/`` (``metrics.csv`` per epoch is always written)."""

    _target_: str = "lightning.pytorch.loggers.CSVLogger"
    name: str = "logs"  # a logs/version_N per attempt: resuming never overwrites earlier steps


@dataclass
class WandbConfig:
    _target_: str = "lightning.pytorch.loggers.WandbLogger"
    mode: str = "offline"  # offline | online | disabled
    project: str = "pau"
    entity: Optional[str] = None
    group: Optional[str] = None
    tags: Optional[List[str]] = None


@dataclass
class LoggerConfig:
    """The run's loggers, each built by its ``_target_`` (null: off)."""

    csv: Optional[CSVLoggerConfig] = field(default_factory=CSVLoggerConfig)
    wandb: Optional[WandbConfig] = None


@dataclass
class PathsConfig:
    runs_dir: str = "runs"
    # <data>/<model>/<activation>[/<what the command line changed>]/seed<k>: pau.repro.runs.run_name
    run_name: str = SI("${pau.run_name:}")
    run_dir: str = SI("${paths.runs_dir}/${paths.run_name}")
    # Seconds to wait for another process training the same run; null: as long as it
    # takes, 0: exit at once, naming it.
    lock_timeout: Optional[float] = None


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    activation: Any = MISSING  # {_target_, name, **unit arguments}
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    seed: int = 0
    budget: Optional[str] = None  # free-text note on a reduced budget, e.g. "20 epochs"


# Keys that cannot change what a run trains (see pau.repro.runs for why each).
NON_RESULT_KEYS = NON_IDENTITY_KEYS


def compose_config(*overrides: str, config_name: str = "train", config_dir: str | None = None):
    """The configuration ``pau-train <overrides>`` runs, for ``run(cfg)`` from Python.
    It keeps Hydra's record of the overrides (they name the run's folder)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from ..resources import config_dir as shipped_config_dir

    register_configs()
    if GlobalHydra.instance().is_initialized():  # inside a Hydra app, or an initialize() block
        return compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with initialize_config_dir(str(config_dir or shipped_config_dir()), version_base="1.3"):
        return compose(config_name, overrides=list(overrides), return_hydra_config=True)


def register_configs() -> None:
    """The schema (``train_schema``) and the ``${pau.run_name:}`` resolver the configs use."""
    register_resolvers()
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)
