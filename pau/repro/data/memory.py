"""Data sets small enough to hold in memory, decoded once and batched by index.

A batch is fetched as ``images[indices]`` (no per-image work); conversion to float,
augmentation and normalisation run on the whole batch after it reaches the device
(``on_after_batch_transfer``). Shuffling and sharding across processes are done by
:class:`ShardedBatchSampler`, seeded by (seed, epoch), so an epoch sees the same
batches whether a run was interrupted or not.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms.v2.functional import resize

from ..errors import UserError
from .transforms import normalize, random_crop, random_hflip, random_rotation

SUBSET_SEED = 0  # one fixed subset for every run seed, so seeds stay comparable


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A data set is not where the configuration says, and was not to be downloaded."""

    def __init__(self, name: str, looked_in: Path | str, how: str):
        self.name, self.looked_in = name, Path(looked_in)
        super().__init__(f"{name} not found: looked in {Path(looked_in).resolve()}. {how}")


class DatasetCorruptError(UserError):
    """A data set's file is there but not whole (a cut download or copy): named with its size."""

    def __init__(self, name: str, path: Path | str, problem: str, how: str):
        self.name, self.path = name, Path(path)
        super().__init__(f"{name} data {Path(path).resolve()} is corrupt: {problem}. {how}")


class DatasetDownloadError(UserError):
    """Fetching a data set failed (no network, a server down, a folder not writable)."""

    def __init__(self, name: str, into: Path | str, reason: str, how: str):
        self.name, self.into = name, Path(into)
        super().__init__(f"{name} could not be downloaded into {Path(into).resolve()}: {reason}. {how}")


class IndexedTensors(Dataset):
    """``dataset[indices]`` returns the whole batch ``(images[indices], targets[indices])``."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor):
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index):
        return self.images[index], self.targets[index]


class ShardedBatchSampler(Sampler):
    """Batches of indices for one process of ``world_size``.

    Training (``shuffle=True``): a permutation seeded by ``seed + epoch``, padded by
    wrapping around to a multiple of ``world_size`` (as ``DistributedSampler``) and
    strided across processes. Evaluation: every sample exactly once, each process
    holding the same number of batches (sizes differ by at most one) so no process
    waits on another.
    """

    def __init__(self, num_samples: int, batch_size: int, shuffle: bool, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        self.num_samples, self.batch_size, self.shuffle = num_samples, batch_size, shuffle
        self.seed, self.rank, self.world_size, self.drop_last = seed, rank, world_size, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.rank, self.num_samples, self.world_size)
        order = torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        per_rank = math.ceil(self.num_samples / self.world_size)
        order = order.repeat(math.ceil(per_rank * self.world_size / max(self.num_samples, 1)))
        return order[: per_rank * self.world_size][self.rank :: self.world_size]

    def _num_batches(self) -> int:
        per_rank = math.ceil(self.num_samples / self.world_size)
        if self.shuffle and self.drop_last:
            return per_rank // self.batch_size
        return math.ceil(per_rank / self.batch_size)

    def __iter__(self):
        # A generator, so the order is drawn at the first batch: Lightning may create
        # the iterator before it calls set_epoch (when resuming).
        shard, count = self._shard(), self._num_batches()
        if self.shuffle:
            for i in range(count):
                yield shard[i * self.batch_size : (i + 1) * self.batch_size]
        else:
            yield from torch.tensor_split(shard, count)

    def __len__(self) -> int:
        return self._num_batches()


def fixed_subset(n: int, size: int | None) -> torch.Tensor | None:
    """Indices of a fixed random subset of ``size`` out of ``n`` (None: all of them)."""
    if size is None or size >= n:
        return None
    if size < 1:
        raise ValueError(f"a subset needs at least one sample, got {size}")
    return torch.randperm(n, generator=torch.Generator().manual_seed(SUBSET_SEED))[:size].sort().values


def process_layout(trainer, batch_size: int) -> tuple[int, int, int, bool]:
    """(rank, world size, per-process batch, pin memory) for a DataModule's loaders."""
    rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
    if batch_size % world:
        raise ValueError(f"batch size {batch_size} is not divisible by the {world} processes")
    pin = trainer is not None and trainer.strategy.root_device.type == "cuda"
    return rank, world, batch_size // world, pin


class InMemoryDataModule(L.LightningDataModule):
    """Base for data sets held as tensors; subclasses implement :meth:`load`.

    ``batch_size`` is the global batch: with N processes each gets ``batch_size / N``,
    so a multi-GPU run follows the same optimisation as a single-GPU one.
    Images are uint8 (scaled to [0, 1] on the device) or already float; with
    ``image_size`` set they are resized once, at load (MNIST's 28x28 to the 32x32 the
    paper's MNIST networks are defined on). Training batches only are augmented:
    ``random_rotation`` (degrees: each image turned by its own angle in [-d, d], as
    torchvision's ``RandomRotation(d)``), then ``random_crop_padding`` and
    ``random_hflip``; ``drop_last`` drops a last training batch smaller than the batch.
    """

    name = "in-memory"

    def __init__(self, batch_size: int = 256, eval_batch_size: int = 1000,
                 mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,),
                 random_crop_padding: int = 0, random_hflip: bool = False,
                 train_subset: int | None = None, test_subset: int | None = None,
                 drop_last: bool = False, seed: int = 0, image_size: int | None = None,
                 random_rotation: float = 0.0):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean {list(mean)} and std {list(std)} differ in length")
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]
        self.random_crop_padding, self.random_hflip = int(random_crop_padding), bool(random_hflip)
        self.random_rotation = float(random_rotation)
        if not 0.0 <= self.random_rotation <= 180.0:
            raise UserError(f"data.random_rotation={random_rotation!r} is invalid: degrees from 0 (off) to 180")
        self.train_subset, self.test_subset = train_subset, test_subset
        self.drop_last, self.seed = drop_last, int(seed)
        self.image_size = None if image_size is None else int(image_size)
        self.train_set: IndexedTensors | None = None
        self.test_set: IndexedTensors | None = None

    # -- what a subclass provides -------------------------------------------------
    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(train images, train targets, test images, test targets), images (N, C, H, W)."""
        raise NotImplementedError

    def download(self) -> None:
        """Fetch the data if the source supports it (rank zero only)."""

    # -- Lightning hooks ------------------------------------------------------------
    def prepare_data(self) -> None:
        self.download()

    def verify(self) -> None:
        """Fetch (if enabled) and load now, so a missing data set fails before any
        training is set up. Call on one process; Lightning does the rest on all."""
        self.prepare_data()
        self.setup("fit")

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train_x, train_y, test_x, test_y = self.load()
        sub = fixed_subset(len(train_y), self.train_subset)
        if sub is not None:
            train_x, train_y = train_x[sub], train_y[sub]
        sub = fixed_subset(len(test_y), self.test_subset)
        if sub is not None:
            test_x, test_y = test_x[sub], test_y[sub]
        if self.image_size is not None and tuple(train_x.shape[-2:]) != (self.image_size,) * 2:
            size = [self.image_size, self.image_size]
            train_x, test_x = (resize(x, size, antialias=True) for x in (train_x, test_x))
        if train_x.shape[1] != len(self.mean):
            raise ValueError(f"{self.name}: images have {train_x.shape[1]} channels, mean/std give {len(self.mean)}")
        self.train_set = IndexedTensors(train_x.contiguous(), train_y.long())
        self.test_set = IndexedTensors(test_x.contiguous(), test_y.long())

    def _loader(self, data: IndexedTensors, batch_size: int, train: bool) -> DataLoader:
        rank, world, batch_size, pin = process_layout(self.trainer, batch_size)
        sampler = ShardedBatchSampler(len(data), batch_size, shuffle=train, seed=self.seed,
                                      rank=rank, world_size=world, drop_last=self.drop_last and train)
        # batch_size=None: the sampler yields whole batches of indices. The loader's own
        # generator keeps its iterator from drawing on the global RNG, which each epoch
        # reseeds for augmentation and noise.
        return DataLoader(data, sampler=sampler, batch_size=None, num_workers=0, pin_memory=pin,
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        world = self.trainer.world_size if self.trainer is not None else 1
        # The eval batch only bounds memory; round it up so it splits across processes.
        return self._loader(self.test_set, math.ceil(self.eval_batch_size / world) * world, train=False)

    test_dataloader = val_dataloader

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, targets = batch
        scale = images.dtype == torch.uint8
        images = images.float()
        if scale:
            images = images / 255.0
        if self.trainer is not None and self.trainer.training:
            images = random_rotation(images, self.random_rotation)
            images = random_crop(images, self.random_crop_padding)
            if self.random_hflip:
                images = random_hflip(images)
        return normalize(images, self.mean, self.std), targets
