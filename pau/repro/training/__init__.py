"""Training: the Lightning module, run folders, and the ``pau-train`` / ``pau-eval`` commands.

    from pau.repro.training import run
    result = run(cfg)        # one run into cfg.paths.run_dir; skips or resumes as needed
"""
from .build import activation_kwargs, build_datamodule, build_model
from .callbacks import EpochRecorder, ReplicaCheck
from .config import NON_RESULT_KEYS, TrainConfig, register_configs
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
    "differing_keys",
    "epoch_seed",
    "lr_factor",
    "register_configs",
    "run",
]
