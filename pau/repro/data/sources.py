"""The in-memory data sets: MNIST, Fashion-MNIST, CIFAR-10, scikit-learn digits, synthetic."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import datasets

from .memory import DatasetNotFoundError, InMemoryDataModule


class _TorchvisionDataModule(InMemoryDataModule):
    """A torchvision data set read once into uint8 tensors."""

    dataset_cls: type = None  # set by subclasses
    layout: str = ""  # what must be under ``root``, for the error message

    def __init__(self, root: str = "data", download: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.root, self.download_enabled = str(root), bool(download)

    def download(self) -> None:
        if self.download_enabled:
            for train in (True, False):
                self.dataset_cls(self.root, train=train, download=True)

    def _open(self, train: bool):
        try:
            return self.dataset_cls(self.root, train=train, download=False)
        except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
            raise DatasetNotFoundError(
                self.name, Path(self.root) / self.layout,
                f"Put the {self.layout} files under data.root (now {self.root!r}), "
                f"e.g. data.root=/path/to/datasets, or set data.download=true to fetch them.",
            ) from err

    def load(self):
        train, test = self._open(True), self._open(False)
        return (*self._tensors(train), *self._tensors(test))

    @staticmethod
    def _tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.as_tensor(ds.data)
        images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)  # NHWC -> NCHW
        return images, torch.as_tensor(ds.targets, dtype=torch.long)


class MNISTDataModule(_TorchvisionDataModule):
    name, dataset_cls, layout = "mnist", datasets.MNIST, "MNIST/raw"


class FashionMNISTDataModule(_TorchvisionDataModule):
    name, dataset_cls, layout = "fashion_mnist", datasets.FashionMNIST, "FashionMNIST/raw"


class CIFAR10DataModule(_TorchvisionDataModule):
    name, dataset_cls, layout = "cifar10", datasets.CIFAR10, "cifar-10-batches-py"


class DigitsDataModule(InMemoryDataModule):
    """scikit-learn's bundled 8x8 digits (1,797 images), shaped like MNIST so MNIST
    networks run on it anywhere, offline: each digit is upsampled to 20x20 and centred
    in a 28x28 frame, as MNIST digits are (then resized like MNIST by ``image_size``).
    The split (1,437 train / 360 test, stratified) is fixed."""

    name = "digits"
    test_size = 360

    def load(self):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        images = F.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False)
        images = F.pad(images, (4, 4, 4, 4)).clamp(0, 1).mul(255).round().to(torch.uint8)
        targets = torch.as_tensor(digits.target, dtype=torch.long)
        train_idx, test_idx = train_test_split(
            np.arange(len(targets)), test_size=self.test_size, stratify=digits.target, random_state=0
        )
        train_idx, test_idx = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
        return images[train_idx], targets[train_idx], images[test_idx], targets[test_idx]


class SyntheticDataModule(InMemoryDataModule):
    """Generated classification data of any shape: each class is a smooth random
    pattern, each sample its class pattern plus Gaussian noise. Fixed by ``data_seed``."""

    name = "synthetic"

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 num_train: int = 512, num_test: int = 256, noise: float = 1.0, data_seed: int = 0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, **kwargs):
        channels = int(in_channels)
        mean = [0.0] * channels if mean is None or len(mean) != channels else mean
        std = [1.0] * channels if std is None or len(std) != channels else std
        super().__init__(mean=mean, std=std, image_size=image_size, **kwargs)
        self.shape = (channels, int(image_size), int(image_size))
        self.num_classes, self.num_train_samples, self.num_test_samples = num_classes, num_train, num_test
        self.noise, self.data_seed = float(noise), int(data_seed)

    def load(self):
        g = torch.Generator().manual_seed(self.data_seed)
        c, h, w = self.shape
        coarse = torch.randn(self.num_classes, c, 4, 4, generator=g)
        patterns = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)

        def sample(n):
            targets = torch.randint(0, self.num_classes, (n,), generator=g)
            return patterns[targets] + self.noise * torch.randn(n, c, h, w, generator=g), targets

        return (*sample(self.num_train_samples), *sample(self.num_test_samples))
