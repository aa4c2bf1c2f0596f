"""The counter-based noise of RPAU (paper Eq. 3), identical bit for bit in every backend.

RPAU perturbs coefficient k used for element i (its flat row-major index) by
``alpha * c_k * z_ik`` with ``z_ik`` uniform on (-1, 1). ``z`` is a pure function
of ``(seed, i, k)``, so the kernels draw it on the fly and never materialise
per-element coefficients, and the backward pass regenerates exactly the forward's
noise from the same seed. With h = lowbias32 (Wellons' 32-bit integer hash: two
multiplies, three xor-shifts):

    s   = h(seed_lo ^ h(seed_hi))                       per call: the whole seed mixed
    e   = h(i_lo ^ h(i_hi ^ s))                         per element: a strong mix
    u_j = e * M_j  (mod 2^32)                           per word j of two draws
    M_j = h((j + 1) * 0x9E3779B9 + 3) | 1               an odd multiplier per word
    z_2j     from (u_j ^ (u_j >> 16)) & 0xFFFF          (low half, xor-folded)
    z_(2j+1) from  u_j >> 16                            (high half)
    z = (half + 1/2) * 2^-15 - 1

Each word gives two draws of 16 bits; ``z`` takes the 2^16 values centred in their
cells, symmetric about 0 and exact in float32. ``h(i_hi ^ s)`` changes only every
2^32 elements, so the kernels compute it once per run of elements.

Seeds: any two seeds give the same draws only up to the index permutation
i_lo -> i_lo ^ h(i_hi ^ s) ^ h(i_hi ^ s'), whose mask is a hash of both whole seeds,
so nearby seeds (0, 1, 2, ... as a step counter) get unrelated noise. Were the seed
xored into the index unhashed, seed s would draw for element i exactly what seed 0
draws for element i ^ s: the neighbours' noise.

Cost: the full hash runs once per element; each further word is one multiply of the
strongly mixed ``e`` by its own odd constant, a shift and an xor-and (three vector
instructions on AVX-512), each draw a convert and a multiply-add. The high half of
``e * M_j`` depends on every bit of ``e``, and the low half is folded with it, so the
draws of one element show no pairwise correlation: |r| sqrt(N) stays within chance
(below 3.1 over 120 pairs of 16 draws at N = 2^23, and for their squares), where one
multiply of ``e`` plus a per-coefficient constant (an additive offset, which makes
u_j - u_k constant) left r = 0.02 between coefficients (20 sigma at 10^6 elements).
Multipliers from h(... + 3): among the first few offsets tried, offset 0 gave one
pair at 4.3 sigma at N = 2^20 (not reproduced at 2^22); offset 3 stayed below 3.
"""
from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9
HASH_MUL1 = 0x7FEB352D
HASH_MUL2 = 0x846CA68B
MULTIPLIER_OFFSET = 3
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


def mixed_seed(seed: int) -> int:
    """s = h(seed_lo ^ h(seed_hi)): the whole 64-bit seed hashed into 32 bits."""
    seed_lo, seed_hi = split_seed(seed)
    return int(lowbias32(torch.tensor(seed_lo) ^ lowbias32(torch.tensor(seed_hi))))


def num_words(num_coefficients: int) -> int:
    """Hash words per element: two 16-bit draws from each."""
    return (num_coefficients + 1) // 2


def word_multipliers(count: int) -> list[int]:
    """M_j = h((j + 1) * GOLDEN + 3) | 1 for the words j < count (odd 32-bit constants)."""
    j = torch.arange(1, count + 1, dtype=torch.int64)
    return [int(m) for m in (lowbias32((j * GOLDEN + MULTIPLIER_OFFSET) & MASK32) | 1)]


def uniform_noise(seed: int, index: torch.Tensor, num_coefficients: int) -> torch.Tensor:
    """z in (-1, 1) of shape ``index.shape + (num_coefficients,)`` as float32.

    ``index`` holds int64 flat element indices.
    """
    index = index.to(torch.int64)
    i_lo = index & MASK32
    i_hi = (index >> 32) & MASK32
    e = lowbias32(i_lo ^ lowbias32(i_hi ^ mixed_seed(seed)))
    m = torch.tensor(word_multipliers(num_words(num_coefficients)), device=index.device, dtype=torch.int64)
    u = _mul32(e.unsqueeze(-1), m)
    high = u >> 16
    halves = torch.stack(((u ^ high) & 0xFFFF, high), -1).flatten(-2)[..., :num_coefficients]
    return halves.to(torch.float32) * DRAW_SCALE + DRAW_OFFSET
