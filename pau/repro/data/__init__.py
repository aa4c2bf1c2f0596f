"""Data sets of the paper as Lightning DataModules, plus two that work offline anywhere.

    dm = create_datamodule("mnist", root="data", batch_size=256)
    dm.verify()          # fails at once, naming the folder, if the data is missing

Small sets (MNIST, Fashion-MNIST, CIFAR-10, digits, synthetic) are held in memory
and augmented per batch on the device; ImageNet is read from an ImageFolder tree.
"""
from __future__ import annotations

import inspect

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


def create_datamodule(name: str, **options):
    """The DataModule registered as ``name``; options it does not take are ignored
    (one configuration schema serves every data set)."""
    if name not in DATAMODULES:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(DATAMODULES)}")
    cls = DATAMODULES[name]
    accepted = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            accepted |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
    return cls(**{k: v for k, v in options.items() if k in accepted})


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
    "create_datamodule",
    "list_datasets",
]
