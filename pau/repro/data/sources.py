"""The in-memory data sets: MNIST, Fashion-MNIST, CIFAR-10, scikit-learn digits, synthetic."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import datasets
from torchvision.datasets.utils import check_integrity

from .memory import DatasetCorruptError, DatasetDownloadError, DatasetNotFoundError, InMemoryDataModule


# IDX files (MNIST's format) start with 0, 0, a type code and the number of
# dimensions, then each dimension as a big-endian int32: the size a whole file has.
IDX_ITEM_SIZES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def idx_file_problem(path: Path) -> str | None:
    """Why the IDX file at ``path`` is not whole (its size against the size its header
    gives), or None if it is."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        magic = f.read(4)
        if len(magic) < 4 or magic[0] or magic[1] or magic[2] not in IDX_ITEM_SIZES:
            return f"{size:,} bytes that do not start with an IDX header"
        dims = f.read(4 * magic[3])
    if len(dims) < 4 * magic[3]:
        return f"{size:,} bytes, shorter than its own header"
    shape = np.frombuffer(dims, dtype=">i4")
    expected = 4 + len(dims) + int(np.prod(shape, dtype=np.int64)) * IDX_ITEM_SIZES[magic[2]]
    if size != expected:
        return f"{size:,} bytes where its header of shape {tuple(int(d) for d in shape)} needs {expected:,}"
    return None


class _TorchvisionDataModule(InMemoryDataModule):
    """A torchvision data set read once into uint8 tensors.

    The files are checked before torchvision reads them, so a missing file is
    reported as missing and a cut one as corrupt (torchvision says "not found or
    corrupted" for both, or fails on a reshape)."""

    dataset_cls: type = None  # set by subclasses
    layout: str = ""  # what must be under ``root``, for the error message

    def __init__(self, root: str = "data", download: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.root, self.download_enabled = str(root), bool(download)

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.layout

    def _fix(self) -> str:
        return (f"Put the {self.layout} files under data.root (now {self.root!r}), "
                f"e.g. data.root=/path/to/datasets, or set data.download=true to fetch them.")

    def files(self) -> list[str]:
        """The files torchvision reads from :attr:`folder`."""
        raise NotImplementedError

    def file_problem(self, path: Path) -> str | None:
        """Why a present file is not whole, or None; checked before torchvision reads it."""
        return None

    def download(self) -> None:
        if not self.download_enabled:
            return
        try:
            for train in (True, False):
                self.dataset_cls(self.root, train=train, download=True)
        except (OSError, RuntimeError) as err:  # urllib's URLError is an OSError
            raise DatasetDownloadError(
                self.name, self.folder, str(err) or type(err).__name__,
                f"Check the network, or put the {self.layout} files there and set data.download=false.",
            ) from err

    def check_files(self) -> None:
        """Raise DatasetNotFoundError if a file is missing, DatasetCorruptError if one is cut."""
        missing = [name for name in self.files() if not (self.folder / name).is_file()]
        if missing:
            raise DatasetNotFoundError(self.name, self.folder, f"Missing: {', '.join(missing)}. {self._fix()}")
        for name in self.files():
            problem = self.file_problem(self.folder / name)
            if problem:
                raise DatasetCorruptError(self.name, self.folder / name, problem, self._refetch())

    def _refetch(self) -> str:
        return "Delete it and run again with data.download=true, or copy it again."

    def _open(self, train: bool):
        self.check_files()
        try:
            return self.dataset_cls(self.root, train=train, download=False)
        except RuntimeError as err:  # the files are all there: torchvision found one unreadable
            raise DatasetCorruptError(self.name, self.folder, str(err).split("\n")[0], self._refetch()) from err

    def load(self):
        train, test = self._open(True), self._open(False)
        return (*self._tensors(train), *self._tensors(test))

    @staticmethod
    def _tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.as_tensor(ds.data)
        images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)  # NHWC -> NCHW
        return images, torch.as_tensor(ds.targets, dtype=torch.long)


class _IDXDataModule(_TorchvisionDataModule):
    """MNIST and Fashion-MNIST: four uncompressed IDX files under ``<Name>/raw``."""

    def files(self) -> list[str]:
        return [Path(url).stem for url, _ in self.dataset_cls.resources]  # without .gz

    def file_problem(self, path: Path) -> str | None:
        return idx_file_problem(path)


class MNISTDataModule(_IDXDataModule):
    name, dataset_cls, layout = "mnist", datasets.MNIST, "MNIST/raw"


class FashionMNISTDataModule(_IDXDataModule):
    name, dataset_cls, layout = "fashion_mnist", datasets.FashionMNIST, "FashionMNIST/raw"


class CIFAR10DataModule(_TorchvisionDataModule):
    """The python pickles of ``cifar-10-batches-py``; a file whose MD5 is not the
    published one is corrupt (the checksums torchvision ships)."""

    name, dataset_cls, layout = "cifar10", datasets.CIFAR10, "cifar-10-batches-py"

    def _checksums(self) -> dict[str, str]:
        cls = self.dataset_cls
        return {**dict(cls.train_list), **dict(cls.test_list), cls.meta["filename"]: cls.meta["md5"]}

    def files(self) -> list[str]:
        return list(self._checksums())

    def _open(self, train: bool):
        try:
            return super()._open(train)
        except DatasetCorruptError as err:  # name the file: torchvision checked them all at once
            for name, md5 in self._checksums().items():
                path = self.folder / name
                if not check_integrity(str(path), md5):
                    problem = f"{path.stat().st_size:,} bytes whose MD5 is not the published {md5}"
                    raise DatasetCorruptError(self.name, path, problem, self._refetch()) from err
            raise


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
