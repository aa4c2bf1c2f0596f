"""Building a run's parts from its configuration."""
from __future__ import annotations

from typing import Any, Mapping

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ..data import create_datamodule

ACTIVATION_META_KEYS = ("_target_", "name")


def resolved(cfg) -> dict:
    """A plain, fully resolved copy of ``cfg`` (without Hydra's own node)."""
    cfg = OmegaConf.to_container(cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg), resolve=True)
    return {k: v for k, v in cfg.items() if k != "hydra"}


def activation_kwargs(cfg: Mapping[str, Any]) -> dict:
    """The activation unit's own arguments (``activation`` minus ``_target_`` and ``name``)."""
    return {k: v for k, v in resolved(cfg)["activation"].items() if k not in ACTIVATION_META_KEYS}


def build_model(cfg: Mapping[str, Any]) -> nn.Module:
    """The network ``model.name`` with ``activation`` at every site, shaped by ``data``."""
    cfg = resolved(cfg)
    data = cfg["data"]
    return instantiate(
        cfg["model"],
        activation=cfg["activation"]["name"],
        num_classes=data["num_classes"],
        in_channels=data["in_channels"],
        **activation_kwargs(cfg),
    )


def build_datamodule(cfg: Mapping[str, Any]):
    """The DataModule of ``data``, seeded by the run's ``seed``."""
    cfg = resolved(cfg)
    options = dict(cfg["data"])
    return create_datamodule(options.pop("name"), seed=cfg["seed"], **options)
