"""Triton kernels for CUDA tensors (they also run on the CPU under ``TRITON_INTERPRET=1``).

Same layout and rules as the CPU kernel: x is viewed as R rows of L elements, row r
uses coefficient set r % G; each program handles BLOCK elements of one row, so all
its elements share one coefficient set. Orders are compile-time constants (one
specialisation per (m, n, form)). The backward writes per-program partial sums of
the coefficient gradients, reduced afterwards in a fixed order (no atomics), so two
identical backward passes give bitwise identical gradients.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..math.forms import FORM_IDS, compute_dtype
from .cpu import rows_layout

FORM_A: tl.constexpr = 0
FORM_B: tl.constexpr = 1
FORM_C: tl.constexpr = 2
FORM_N: tl.constexpr = 3

DEFAULT_BLOCK = 1024


@triton.jit
def _lowbias32(x):
    x = x ^ (x >> 16)
    x = x * tl.cast(0x7FEB352D, tl.uint32)
    x = x ^ (x >> 15)
    x = x * tl.cast(0x846CA68B, tl.uint32)
    x = x ^ (x >> 16)
    return x


@triton.jit
def _coefficient_mix(x):
    x = x * tl.cast(0x846CA68B, tl.uint32)
    return x ^ (x >> 16)


@triton.jit
def _sgn(z):
    # sign(0) := +1, the library's rule for the derivative of |z|.
    return tl.where(z >= 0, 1.0, -1.0).to(z.dtype)


@triton.jit
def _element_hash(offs, seed_ptr):
    seed = tl.load(seed_ptr)
    seed_lo = (seed & 0xFFFFFFFF).to(tl.uint32)
    seed_hi = ((seed >> 32) & 0xFFFFFFFF).to(tl.uint32)
    lo = (offs & 0xFFFFFFFF).to(tl.uint32)
    hi = ((offs >> 32) & 0xFFFFFFFF).to(tl.uint32)
    return _lowbias32(_lowbias32(lo ^ seed_lo) ^ (hi + seed_hi))


@triton.jit
def _coef(ptr, k: tl.constexpr, e, alpha, NOISE: tl.constexpr, CDT: tl.constexpr):
    """Coefficient k (index over numerator then denominator), per element under noise."""
    c = tl.load(ptr).to(CDT)
    if NOISE:
        salt = tl.cast((k + 1) * 0x9E3779B9 % 4294967296, tl.uint32)
        u = _coefficient_mix(e ^ salt)
        z = ((u >> 8).to(tl.float32) * 1.1920928955078125e-07 - 1.0).to(CDT)
        c = c + (alpha * z) * c
    return c


@triton.jit
def _evaluate(x, a_ptr, b_ptr, e, alpha, M1: tl.constexpr, NB: tl.constexpr, FORM: tl.constexpr,
              NOISE: tl.constexpr, DERIV: tl.constexpr, CDT: tl.constexpr):
    """P, P', Q, Q' and sign of the inner polynomial (B, C) for a block of x."""
    p = tl.zeros_like(x) + _coef(a_ptr + (M1 - 1), M1 - 1, e, alpha, NOISE, CDT)
    dp = tl.zeros_like(x)
    if DERIV and M1 > 1:
        dp = dp + (M1 - 1) * _coef(a_ptr + (M1 - 1), M1 - 1, e, alpha, NOISE, CDT)
    for j in tl.static_range(M1 - 2, -1, -1):
        aj = _coef(a_ptr + j, j, e, alpha, NOISE, CDT)
        p = p * x + aj
        if DERIV and j >= 1:
            dp = dp * x + j * aj
    sg = tl.zeros_like(x) + 1.0
    if FORM == 0:  # A: 1 + sum |b_k| |x|^k
        ax = tl.abs(x)
        acc = tl.zeros_like(x)
        d = tl.zeros_like(x)
        for k in tl.static_range(NB - 1, -1, -1):
            bk = tl.abs(_coef(b_ptr + k, M1 + k, e, alpha, NOISE, CDT))
            acc = acc * ax + bk
            if DERIV:
                d = d * ax + (k + 1) * bk
        q = 1.0 + acc * ax
        dq = _sgn(x) * d
    else:
        SHIFT: tl.constexpr = 0 if FORM == 2 else 1
        s = tl.zeros_like(x)
        d = tl.zeros_like(x)
        for k in tl.static_range(NB - 1, -1, -1):
            bk = _coef(b_ptr + k, M1 + k, e, alpha, NOISE, CDT)
            s = s * x + bk
            if DERIV and k + SHIFT >= 1:
                if k == NB - 1:
                    d = d + (k + SHIFT) * bk
                else:
                    d = d * x + (k + SHIFT) * bk
        if SHIFT == 1:
            s = s * x
        if FORM == 3:  # N
            q = 1.0 + s
            dq = d
        else:
            sg = _sgn(s)
            q = (0.1 if FORM == 2 else 1.0) + tl.abs(s)
            dq = sg * d
    return p, dp, q, dq, sg


@triton.jit
def _block(pid, x_ptr, seed_ptr, alpha_ptr, row_len, blocks_per_row, G: tl.constexpr, NOISE: tl.constexpr,
           CDT: tl.constexpr, BLOCK: tl.constexpr):
    """This program's offsets (64-bit), mask, coefficient group, inputs, hash and alpha."""
    row = pid // blocks_per_row
    col = (pid % blocks_per_row) * BLOCK + tl.arange(0, BLOCK)
    mask = col < row_len
    offs = row * row_len + col
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(CDT)
    e = _element_hash(offs, seed_ptr) if NOISE else offs
    alpha = tl.load(alpha_ptr).to(CDT)
    return offs, mask, row % G, x, e, alpha


@triton.jit
def _pau_forward_kernel(x_ptr, y_ptr, a_ptr, b_ptr, seed_ptr, alpha_ptr, row_len, blocks_per_row,
                        G: tl.constexpr, M1: tl.constexpr, NB: tl.constexpr, FORM: tl.constexpr,
                        NOISE: tl.constexpr, CDT: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    offs, mask, group, x, e, alpha = _block(pid, x_ptr, seed_ptr, alpha_ptr, row_len, blocks_per_row, G, NOISE,
                                            CDT, BLOCK)
    p, dp, q, dq, sg = _evaluate(x, a_ptr + group * M1, b_ptr + group * NB, e, alpha, M1, NB, FORM, NOISE,
                                 False, CDT)
    tl.store(y_ptr + offs, (p / q).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _pau_backward_kernel(g_ptr, x_ptr, gx_ptr, a_ptr, b_ptr, seed_ptr, alpha_ptr, partial_ptr, row_len,
                         blocks_per_row, G: tl.constexpr, M1: tl.constexpr, NB: tl.constexpr,
                         FORM: tl.constexpr, NOISE: tl.constexpr, CDT: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    offs, mask, group, x, e, alpha = _block(pid, x_ptr, seed_ptr, alpha_ptr, row_len, blocks_per_row, G, NOISE,
                                            CDT, BLOCK)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(CDT)
    bp = b_ptr + group * NB
    p, dp, q, dq, sg = _evaluate(x, a_ptr + group * M1, bp, e, alpha, M1, NB, FORM, NOISE, True, CDT)
    w = tl.where(mask, g / q, 0.0)  # dL/dP
    v = -w * p / q  # dL/dQ
    tl.store(gx_ptr + offs, (w * dp + v * dq).to(gx_ptr.dtype.element_ty), mask=mask)
    out = partial_ptr + pid * (M1 + NB)
    pw = tl.zeros_like(x) + 1.0
    for j in tl.static_range(M1):
        tl.store(out + j, tl.sum(w * pw, axis=0).to(tl.float64))
        pw = pw * x
    if FORM == 0:
        ax = tl.abs(x)
        pw = ax
        for k in tl.static_range(NB):
            sb = _sgn(_coef(bp + k, M1 + k, e, alpha, NOISE, CDT))
            tl.store(out + M1 + k, tl.sum(v * sb * pw, axis=0).to(tl.float64))
            pw = pw * ax
    else:
        vs = v if FORM == 3 else v * sg
        pw = tl.zeros_like(x) + 1.0 if FORM == 2 else x
        for k in tl.static_range(NB):
            tl.store(out + M1 + k, tl.sum(vs * pw, axis=0).to(tl.float64))
            pw = pw * x


def _tl_dtype(dtype: torch.dtype):
    return tl.float64 if dtype == torch.float64 else tl.float32


def _launch_args(x, numerator, denominator, groups, alpha, seed, block):
    cdt = compute_dtype(x)
    xc = x.contiguous()
    a = numerator.detach().to(cdt).contiguous()
    b = denominator.detach().to(cdt).contiguous()
    rows, row_len = rows_layout(xc, groups)
    blocks_per_row = triton.cdiv(row_len, block) if row_len else 0
    noise = bool(alpha) and seed is not None
    seed_t = seed.reshape(-1)[:1].to(device=x.device, dtype=torch.int64) if noise else torch.zeros(
        1, dtype=torch.int64, device=x.device)
    alpha_t = torch.tensor([float(alpha)], dtype=cdt, device=x.device)
    return xc, a, b, rows, row_len, blocks_per_row, noise, seed_t, alpha_t, cdt


def forward(x, numerator, denominator, form: str, groups: int, alpha: float = 0.0, seed=None,
            block: int = DEFAULT_BLOCK) -> torch.Tensor:
    xc, a, b, rows, row_len, bpr, noise, seed_t, alpha_t, cdt = _launch_args(
        x, numerator, denominator, groups, alpha, seed, block)
    y = torch.empty_like(xc)
    if xc.numel():
        _pau_forward_kernel[(rows * bpr,)](
            xc, y, a, b, seed_t, alpha_t, row_len, bpr, G=groups, M1=a.shape[-1], NB=b.shape[-1],
            FORM=FORM_IDS[form], NOISE=noise, CDT=_tl_dtype(cdt), BLOCK=block)
    return y


def backward(grad_out, x, numerator, denominator, form: str, groups: int, alpha: float = 0.0, seed=None,
             block: int = DEFAULT_BLOCK):
    xc, a, b, rows, row_len, bpr, noise, seed_t, alpha_t, cdt = _launch_args(
        x, numerator, denominator, groups, alpha, seed, block)
    g = grad_out.contiguous()
    gx = torch.empty_like(xc)
    m1, nb = a.shape[-1], b.shape[-1]
    partial = torch.zeros(rows * bpr, m1 + nb, dtype=torch.float64, device=x.device)
    if xc.numel():
        _pau_backward_kernel[(rows * bpr,)](
            g, xc, gx, a, b, seed_t, alpha_t, partial, row_len, bpr, G=groups, M1=m1, NB=nb,
            FORM=FORM_IDS[form], NOISE=noise, CDT=_tl_dtype(cdt), BLOCK=block)
    # Fixed-order reduction: rows are (sample, group) pairs, group fastest.
    coef_grad = partial.view(-1, groups, bpr, m1 + nb).sum(dim=(0, 2)) if xc.numel() else partial.new_zeros(
        groups, m1 + nb)
    grad_num = coef_grad[:, :m1].to(numerator.dtype, copy=True).reshape(numerator.shape)
    grad_den = coef_grad[:, m1:].to(denominator.dtype, copy=True).reshape(denominator.shape)
    return gx, grad_num, grad_den
