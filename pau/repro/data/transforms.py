"""Per-sample augmentation of whole batches.

torchvision's transforms draw one set of random parameters per call, so applied to a
batch they would crop and flip every image alike; the paper's CIFAR-10 augmentation
(random crop with padding 4, horizontal flip) needs independent draws per image.
Random numbers come from torch's CPU generator, so a batch is augmented the same
way on any device once the generator is seeded.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(images: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad ``(N, C, H, W)`` images by ``padding`` and crop each at its own random offset."""
    if padding <= 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, n)).to(images.device)
    rows = offsets[0, :, None] + torch.arange(h, device=images.device)  # (N, H)
    cols = offsets[1, :, None] + torch.arange(w, device=images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # Indexing with three broadcast index tensors around the channel slice yields (N, H, W, C).
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_hflip(images: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    flip = (torch.rand(images.shape[0]) < p).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """``(x - mean) / std`` per channel."""
    mean = torch.as_tensor(mean, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    return (images - mean) / std
