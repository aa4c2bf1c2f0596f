"""Building a run's parts from its configuration: every group through its ``_target_``
(``hydra.utils.instantiate``), as in lightning-hydra-template."""
from __future__ import annotations

from typing import Any, Mapping

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from pau.activations import ActivationFactory, as_act_factory
from ..errors import UserError

ACTIVATION_META_KEYS = ("_target_", "name")
# Keys of an activation's file that the training loop reads, not the unit's constructor
# (SReLU's warm-up, pau.repro.training.callbacks.SReLUWarmup), per unit name.
TRAINING_LOOP_KEYS = {"srelu": ("warmup_epochs", "threshold_quantile")}
ACTIVATION_TARGET = "pau.repro.training.build.activation_factory"
# Runs saved before the activation group built a factory name the unit itself; their
# checkpoints still load (pau-eval, pau-figures) and their networks still build.
EARLIER_ACTIVATION_TARGETS = ("pau.activations.create_act_layer",)
DATA_SHAPE_KEYS = ("in_channels", "num_classes")  # the data's shape: the network's, not the DataModule's


def resolved(cfg) -> dict:
    """A plain, fully resolved copy of ``cfg`` without Hydra's own node (which may be
    there, as ``compose(..., return_hydra_config=True)`` leaves it, for the run's name)."""
    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    return {k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
            for k in cfg if k != "hydra"}


def build(node, *args, **kwargs):
    """``hydra.utils.instantiate(node, ...)``, letting a target's :class:`UserError`
    through as itself (Hydra wraps every error of a target in its own exception)."""
    try:
        return instantiate(node, *args, **kwargs)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, UserError):
            raise exc.__cause__ from None
        raise


def _unit_arguments(name: str, keys: Mapping[str, Any]) -> dict:
    loop_keys = TRAINING_LOOP_KEYS.get(str(name).lower(), ())
    return {k: v for k, v in keys.items() if k not in ACTIVATION_META_KEYS and k not in loop_keys}


def activation_factory(name: str, **kwargs) -> ActivationFactory:
    """The ``activation`` group's target: the unit ``name`` with its arguments, as the
    factory networks take (a fresh unit per call site, timm's ``act_layer``). Keys the
    training loop reads (:data:`TRAINING_LOOP_KEYS`) are not passed to the unit."""
    return as_act_factory(name, **_unit_arguments(name, kwargs))


def activation_kwargs(cfg: Mapping[str, Any]) -> dict:
    """The activation unit's own arguments (``activation`` minus ``_target_``, ``name`` and
    the keys the training loop reads)."""
    activation = resolved(cfg)["activation"]
    return _unit_arguments(activation.get("name", ""), activation)


def build_model(cfg: Mapping[str, Any]) -> nn.Module:
    """The network of ``model`` with the unit of ``activation`` at every site, shaped by ``data``."""
    cfg = resolved(cfg)
    data, activation = cfg["data"], dict(cfg["activation"])
    if activation.get("_target_") in EARLIER_ACTIVATION_TARGETS:
        activation["_target_"] = ACTIVATION_TARGET
    return build(cfg["model"], activation=build(activation),
                       num_classes=data["num_classes"], in_channels=data["in_channels"])


def build_datamodule(cfg: Mapping[str, Any]):
    """The DataModule of ``data``, seeded by the run's ``seed``. A key of the shared
    schema that this data set does not take must keep its default: a changed one
    (``data.noise=2`` for MNIST) would be silently without effect, so it is refused."""
    from .config import DataConfig

    cfg = resolved(cfg)
    defaults = OmegaConf.to_container(OmegaConf.structured(DataConfig), resolve=False)
    untouched = [k for k, v in cfg["data"].items() if k in defaults and _same(v, defaults[k])]
    data = {"_target_": DataConfig._target_, **cfg["data"]}  # runs saved before it had one
    return build(data, seed=cfg["seed"], ignore=[*untouched, *DATA_SHAPE_KEYS], _convert_="all")


def _same(value, default) -> bool:
    return value == default or (isinstance(default, str) and default.startswith("${"))  # interpolated defaults
