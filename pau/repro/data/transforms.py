"""Per-sample augmentation of whole batches.

torchvision's transforms draw one set of random parameters per call, so applied to a
batch they would crop, flip or turn every image alike; the paper's CIFAR-10
augmentation (random crop with padding 4, horizontal flip) and the authors' MNIST
rotation need independent draws per image.
Random numbers come from torch's CPU generator, so a batch is augmented the same
way on any device once the generator is seeded.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2.functional import rotate


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


def random_rotation(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Turn each ``(N, C, H, W)`` image about its centre by its own angle, uniform in
    ``[-degrees, degrees]``: torchvision's ``RandomRotation(degrees)`` (nearest
    neighbour, corners filled with 0, size kept) applied to every image on its own."""
    if degrees <= 0:
        return images
    angles = torch.empty(images.shape[0]).uniform_(-float(degrees), float(degrees)).tolist()
    return torch.stack([rotate(image, angle, interpolation=InterpolationMode.NEAREST, fill=0.0)
                        for image, angle in zip(images, angles)])


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """``(x - mean) / std`` per channel."""
    mean = torch.as_tensor(mean, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    return (images - mean) / std
