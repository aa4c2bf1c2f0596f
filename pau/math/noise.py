"""The counter-based noise of RPAU, identical in every backend.

RPAU perturbs coefficient k used for element i (its flat row-major index) by
``alpha * c_k * z`` with ``z`` uniform on [-1, 1). ``z`` is a pure function of
``(seed, i, k)``: a 32-bit integer hash (Wellons' lowbias32), so the kernels
draw it on the fly and never materialise per-element coefficients, and the
backward pass regenerates exactly the forward's noise from the same seed.

    e = h(h(i_lo ^ seed_lo) ^ (i_hi + seed_hi))      per element
    u = g(e ^ (k + 1) * 0x9E3779B9)                   per coefficient
    z = (u >> 8) * 2^-23 - 1        (exact in float32)

with h = lowbias32 and g(v) = w ^ (w >> 16), w = v * 0x846CA68B mod 2^32: one
multiply per coefficient, since e is already well mixed.
"""
from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9
HASH_MUL1 = 0x7FEB352D
HASH_MUL2 = 0x846CA68B


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    # (x * c) mod 2^32 in int64 without overflow: split x into 16-bit halves.
    lo = x & 0xFFFF
    hi = x >> 16
    return (lo * c + (((hi * c) & 0xFFFF) << 16)) & MASK32


def lowbias32(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, HASH_MUL1)
    x = x ^ (x >> 15)
    x = _mul32(x, HASH_MUL2)
    return x ^ (x >> 16)


def coefficient_mix(x: torch.Tensor) -> torch.Tensor:
    x = _mul32(x, HASH_MUL2)
    return x ^ (x >> 16)


def split_seed(seed: int) -> tuple[int, int]:
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    return seed & MASK32, (seed >> 32) & MASK32


def uniform_noise(seed: int, index: torch.Tensor, num_coefficients: int) -> torch.Tensor:
    """z in [-1, 1) of shape ``index.shape + (num_coefficients,)`` as float32.

    ``index`` holds int64 flat element indices.
    """
    seed_lo, seed_hi = split_seed(seed)
    index = index.to(torch.int64)
    i_lo = index & MASK32
    i_hi = (index >> 32) & MASK32
    e = lowbias32(i_lo ^ seed_lo)
    e = lowbias32(e ^ ((i_hi + seed_hi) & MASK32))
    k = torch.arange(1, num_coefficients + 1, device=index.device, dtype=torch.int64)
    salt = (k * GOLDEN) & MASK32
    u = coefficient_mix(e.unsqueeze(-1) ^ salt)
    return (u >> 8).to(torch.float32) * (2.0**-23) - 1.0
