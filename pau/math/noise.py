"""The counter-based noise of RPAU (paper Eq. 3), identical bit for bit in every backend.

RPAU perturbs coefficient k used for element i (its flat row-major index) by
``alpha * c_k * z_ik`` with ``z_ik`` uniform on (-1, 1). ``z`` is a pure function
of ``(seed, i, k)``, so the kernels draw it on the fly and never materialise
per-element coefficients, and the backward pass regenerates exactly the forward's
noise from the same seed. With h = lowbias32 (Wellons' 32-bit integer hash: two
multiplies, three xor-shifts):

    e   = h(i_lo ^ seed_lo ^ h(i_hi ^ seed_hi))         per element
    w_j = h(e + (j + 1) * 0x9E3779B9)  (mod 2^32)       per pair of draws
    z_k = (half_k + 1/2) * 2^-15 - 1                    half_k = 16-bit half k % 2 of w_(k // 2)

Each hash word gives two draws of 16 bits (the low half for even k, the high half
for odd k); ``z`` takes the 2^16 values centred in their cells, symmetric about 0
and exact in float32. ``h(i_hi ^ seed_hi)`` changes only every 2^32 elements, so
the kernels compute it once per run of elements. A full hash per word is what
makes the draws of one element independent: a single multiply per coefficient
left a correlation of 0.02 between coefficients (20 sigma at 10^6 elements).
"""
from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9
HASH_MUL1 = 0x7FEB352D
HASH_MUL2 = 0x846CA68B
DRAW_SCALE = 2.0**-15
DRAW_OFFSET = 2.0**-16 - 1.0


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


def split_seed(seed: int) -> tuple[int, int]:
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    return seed & MASK32, (seed >> 32) & MASK32


def num_words(num_coefficients: int) -> int:
    """Hash words per element: two 16-bit draws from each."""
    return (num_coefficients + 1) // 2


def uniform_noise(seed: int, index: torch.Tensor, num_coefficients: int) -> torch.Tensor:
    """z in (-1, 1) of shape ``index.shape + (num_coefficients,)`` as float32.

    ``index`` holds int64 flat element indices.
    """
    seed_lo, seed_hi = split_seed(seed)
    index = index.to(torch.int64)
    i_lo = index & MASK32
    i_hi = (index >> 32) & MASK32
    e = lowbias32(i_lo ^ seed_lo ^ lowbias32(i_hi ^ seed_hi))
    j = torch.arange(1, num_words(num_coefficients) + 1, device=index.device, dtype=torch.int64)
    words = lowbias32((e.unsqueeze(-1) + j * GOLDEN) & MASK32)
    halves = torch.stack((words & 0xFFFF, words >> 16), -1).flatten(-2)[..., :num_coefficients]
    return halves.to(torch.float32) * DRAW_SCALE + DRAW_OFFSET
