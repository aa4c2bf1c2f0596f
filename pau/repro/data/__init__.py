"""Data sets of the paper as Lightning DataModules, plus two that work offline anywhere.

    dm = create_datamodule("mnist", root="data", batch_size=256)
    dm.verify()          # fails at once, naming the folder, if the data is missing

Small sets (MNIST, Fashion-MNIST, CIFAR-10, digits, synthetic) are held in memory
and augmented per batch on the device; ImageNet is read from an ImageFolder tree.
"""
from __future__ import annotations

import inspect
from typing import Iterable

from ..errors import UserError

from .imagenet import ImageNetDataModule
from .memory import DatasetNotFoundError, InMemoryDataModule, ShardedBatchSampler
from .sources import (
    CIFAR10DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    SyntheticDataModule,
)

DATAMODULES = {
    "mnist": MNISTDataModule,
    "fashion_mnist": FashionMNISTDataModule,
    "cifar10": CIFAR10DataModule,
    "imagenet": ImageNetDataModule,
    "digits": DigitsDataModule,
    "synthetic": SyntheticDataModule,
}


def list_datasets() -> list[str]:
    return list(DATAMODULES)


def _datamodule_class(name: str):
    if name not in DATAMODULES:
        raise UserError(f"unknown data set {name!r}; valid names: {', '.join(DATAMODULES)}")
    return DATAMODULES[name]


def accepted_options(name: str) -> set[str]:
    """The options the DataModule ``name`` takes (its and its bases' constructor arguments)."""
    accepted = set()
    for klass in _datamodule_class(name).__mro__:
        if "__init__" in vars(klass):
            accepted |= set(inspect.signature(klass.__init__).parameters) - {"self", "args", "kwargs"}
    return accepted


def create_datamodule(name: str, ignore: Iterable[str] = (), **options):
    """The DataModule registered as ``name``. An option it does not take raises a
    :class:`UserError` listing those it does, unless named in ``ignore`` (one
    configuration schema serves every data set: its other sets' keys at their defaults)."""
    accepted, ignore = accepted_options(name), set(ignore)
    unknown = sorted(set(options) - accepted - ignore)
    if unknown:
        raise UserError(f"data set {name!r} takes no {', '.join('data.' + k for k in unknown)}; "
                        f"its options: {', '.join(sorted(accepted - {'seed'}))}")
    return _datamodule_class(name)(**{k: v for k, v in options.items() if k in accepted})


__all__ = [
    "CIFAR10DataModule",
    "DATAMODULES",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageNetDataModule",
    "InMemoryDataModule",
    "MNISTDataModule",
    "ShardedBatchSampler",
    "SyntheticDataModule",
    "accepted_options",
    "create_datamodule",
    "list_datasets",
]
