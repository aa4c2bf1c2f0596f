"""Training: the Lightning module, run folders, and the ``pau-train`` / ``pau-eval`` commands.

    from pau.repro.training import compose_config, run
    cfg = compose_config("data=digits", "activation=rpau", "optim.lr=0.01")
    result = run(cfg)        # into runs/digits/lenet/rpau/optim.lr=0.01/seed0; skips or resumes as needed
"""
from .build import activation_kwargs, build_datamodule, build_model
from .callbacks import EpochRecorder, ReplicaCheck
from .config import NON_RESULT_KEYS, TrainConfig, compose_config, register_configs
from .module import PAUClassifier, epoch_seed, lr_factor
from .run import RunConflictError, build_trainer, differing_keys, run

__all__ = [
    "EpochRecorder",
    "NON_RESULT_KEYS",
    "PAUClassifier",
    "ReplicaCheck",
    "RunConflictError",
    "TrainConfig",
    "activation_kwargs",
    "build_datamodule",
    "build_model",
    "build_trainer",
    "compose_config",
    "differing_keys",
    "epoch_seed",
    "lr_factor",
    "register_configs",
    "run",
]
