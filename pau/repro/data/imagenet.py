"""ImageNet (ILSVRC-2012) from an ImageFolder layout, with the standard transforms."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset
from torchvision import datasets
from torchvision.transforms import v2

from .memory import DatasetNotFoundError, fixed_subset, process_layout


class ImageNetDataModule(L.LightningDataModule):
    """``<root>/imagenet/{train,val}/<class>/<image>``; decoded per image by workers.

    Train: random resized crop and horizontal flip; eval: resize to 256/224 of the
    crop, centre crop (the torchvision reference recipe). ``batch_size`` is global.
    """

    name = "imagenet"

    def __init__(self, root: str = "data", download: bool = False, batch_size: int = 256,
                 eval_batch_size: int = 256, num_workers: int = 8, image_size: int = 224,
                 mean: Sequence[float] = (0.485, 0.456, 0.406), std: Sequence[float] = (0.229, 0.224, 0.225),
                 train_subset: int | None = None, test_subset: int | None = None,
                 drop_last: bool = False, seed: int = 0):
        super().__init__()
        self.folder = Path(root) / "imagenet"
        self.download_enabled = bool(download)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.num_workers, self.image_size = int(num_workers), int(image_size)
        self.mean, self.std = list(mean), list(std)
        self.train_subset, self.test_subset = train_subset, test_subset
        self.drop_last, self.seed = drop_last, int(seed)
        self.train_set = self.test_set = None

    def verify(self) -> None:
        missing = [split for split in ("train", "val") if not (self.folder / split).is_dir()]
        if missing or self.download_enabled:
            how = ("ImageNet cannot be downloaded automatically; " if self.download_enabled else "") + (
                "place the ILSVRC-2012 images as imagenet/train/<class>/*.JPEG and imagenet/val/<class>/*.JPEG "
                "under data.root (e.g. data.root=/path/to/datasets)."
            )
            raise DatasetNotFoundError("ImageNet", self.folder, how)

    def _transforms(self, train: bool):
        if train:
            spatial = [v2.RandomResizedCrop(self.image_size, antialias=True), v2.RandomHorizontalFlip()]
        else:
            spatial = [v2.Resize(round(self.image_size * 256 / 224), antialias=True), v2.CenterCrop(self.image_size)]
        return v2.Compose([v2.ToImage(), *spatial, v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.mean, self.std)])

    def _folder(self, split: str, train: bool, subset: int | None):
        try:
            ds = datasets.ImageFolder(str(self.folder / split), transform=self._transforms(train))
        except FileNotFoundError as err:  # torchvision: no class folder, or no image in them
            raise DatasetNotFoundError(
                "ImageNet", self.folder / split,
                f"{err}. Each class needs a folder of images, as imagenet/{split}/<class>/*.JPEG.",
            ) from err
        idx = fixed_subset(len(ds), subset)
        return ds if idx is None else Subset(ds, idx.tolist())

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.verify()
            self.train_set = self._folder("train", True, self.train_subset)
            self.test_set = self._folder("val", False, self.test_subset)

    def _loader(self, data, batch_size: int, train: bool) -> DataLoader:
        rank, world, batch_size, pin = process_layout(self.trainer, batch_size)
        # Seeded by seed + epoch (Lightning calls set_epoch), also in a single process.
        sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=train, seed=self.seed,
                                     drop_last=False)
        return DataLoader(data, batch_size=batch_size, sampler=sampler, num_workers=self.num_workers,
                          pin_memory=pin, persistent_workers=self.num_workers > 0,
                          drop_last=self.drop_last and train)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.eval_batch_size, train=False)

    test_dataloader = val_dataloader
