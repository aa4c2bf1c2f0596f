"""Triton kernels for CUDA tensors (they also run on the CPU under ``TRITON_INTERPRET=1``).

Same layout and rules as the CPU kernel: x is viewed as R rows of L elements, row r
uses coefficient set r % G. Orders are compile-time constants (one specialisation per
(m, n, form)); the math is that of ``pau/math/reference.py``:

    F(x) = P(x) / Q(x)                                      |x| <= FAR
    F(x) = sign(x)^n x^(m-n) P~(u) / Q~(u),  u = 1/x         |x| >  FAR

with the reversed polynomials P~, Q~ of the reference. Both are evaluated in one
pass over the coefficients (each coefficient, and under RPAU each draw, computed
once: the direct form by ascending powers, the 1/x form by Horner) and selected per
element, so nothing overflows before the value does.

Forward: one program per BLOCK elements of a row (all its elements share one
coefficient set). Backward: persistent, grid (P, G): program (p, g) walks the
tiles p, p + P, ... of group g's rows, keeps the coefficient-gradient sums of
its tiles in registers, and writes one row of partials at the end; the host sums
the P rows of each group in a fixed order (no atomics), so two identical backward
passes give bitwise identical gradients for a given configuration. P is about
four programs per SM in total. The forward's BLOCK and num_warps are autotuned per
row length on a GPU; the backward keeps one configuration (see BACKWARD_WARPS).
"""
from __future__ import annotations

import functools
import os
import struct

import torch
import triton
import triton.language as tl

from ..math.forms import FORM_IDS, compute_dtype
from ..math.reference import FAR as _FAR_VALUE
from .cpu import rows_layout

FORM_A: tl.constexpr = 0
FORM_B: tl.constexpr = 1
FORM_C: tl.constexpr = 2
FORM_N: tl.constexpr = 3
FAR = tl.constexpr(_FAR_VALUE)  # |x| beyond which the 1/x form is used

DEFAULT_BLOCK = 1024
# The backward runs one fixed configuration (the one triton_aot reports): a tuned choice
# could differ between processes and with it the summation order of the gradients.
BACKWARD_WARPS = 8
PROGRAMS_PER_SM = 4
_INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
_CONFIGS = [triton.Config({"BLOCK": b}, num_warps=w) for b in (512, 1024, 2048) for w in (4, 8)]


@triton.jit
def _lowbias32(x):
    x = x ^ (x >> 16)
    x = x * tl.cast(0x7FEB352D, tl.uint32)
    x = x ^ (x >> 15)
    x = x * tl.cast(0x846CA68B, tl.uint32)
    x = x ^ (x >> 16)
    return x


@triton.jit
def _sgn(z):
    # sign(0) := +1, the library's rule for the derivative of |z|.
    return tl.where(z >= 0, 1.0, -1.0).to(z.dtype)


@triton.jit
def _element_hash(offs, seed_ptr):
    """e = h(i_lo ^ h(i_hi ^ s)) with s = h(seed_lo ^ h(seed_hi)), pau/math/noise.py."""
    seed = tl.load(seed_ptr)
    seed_lo = (seed & 0xFFFFFFFF).to(tl.uint32)
    seed_hi = ((seed >> 32) & 0xFFFFFFFF).to(tl.uint32)
    mixed = _lowbias32(seed_lo ^ _lowbias32(seed_hi))
    lo = (offs & 0xFFFFFFFF).to(tl.uint32)
    hi = ((offs >> 32) & 0xFFFFFFFF).to(tl.uint32)
    return _lowbias32(lo ^ _lowbias32(hi ^ mixed))


@triton.jit
def _coef(ptr, k: tl.constexpr, e, word, alpha, NOISE: tl.constexpr, CDT: tl.constexpr):
    """Coefficient k (numerator then denominator) and the hash word it draws from.

    Draw k is half k % 2 of word k // 2 = e * M_(k // 2): the word is formed at even k
    and reused at odd k (pau/math/noise.py). Integer operations per element: the
    element hash 10 (two multiplies), per word 3 (one multiply by the word's odd
    constant, a shift, an xor-and), per draw 1 conversion: 45 for the paper's 10
    coefficients with the multiply-adds, as on the CPU.
    """
    c = tl.load(ptr).to(CDT)
    if NOISE:
        if k % 2 == 0:
            mult = _lowbias32(tl.cast(((k // 2 + 1) * 0x9E3779B9 + 3) % 4294967296, tl.uint32)) | 1
            word = e * mult
            half = (word ^ (word >> 16)) & 0xFFFF
        else:
            half = word >> 16
        z = (half.to(tl.float32) * 3.0517578125e-05 + (1.52587890625e-05 - 1.0)).to(CDT)
        c = c + (alpha * z) * c
    return c, word


@triton.jit
def _coef_alone(ptr, k: tl.constexpr, e, alpha, NOISE: tl.constexpr, CDT: tl.constexpr):
    """Coefficient k with its own draw (hashes its word whatever the parity of k)."""
    word = e
    if k % 2 == 1:
        _c, word = _coef(ptr, k - 1, e, word, alpha, NOISE, CDT)
    c, word = _coef(ptr, k, e, word, alpha, NOISE, CDT)
    return c


@triton.jit
def _spow(x, u, E: tl.constexpr):
    """x^E by repeated products of x (E >= 0) or of u = 1/x (E < 0)."""
    r = tl.zeros_like(x) + 1.0
    if E >= 0:
        for _ in tl.static_range(E):
            r = r * x
    else:
        for _ in tl.static_range(-E):
            r = r * u
    return r


@triton.jit
def _evaluate(x, a_ptr, b_ptr, e, alpha, M1: tl.constexpr, NB: tl.constexpr, FORM: tl.constexpr,
              NOISE: tl.constexpr, DERIV: tl.constexpr, CDT: tl.constexpr):
    """Both evaluations of one block: direct (p, dp, q, dq, sg) and in u = 1/x (pt, dpt, qt, dqt, tau)."""
    u = 1.0 / x
    ax = tl.abs(x)
    au = tl.abs(u)
    word = e
    # Numerator, ascending j: p = sum a_j x^j (powers), pt = sum a_j u^(m-j) (Horner).
    p = tl.zeros_like(x)
    dp = tl.zeros_like(x)
    pt = tl.zeros_like(x)
    dpt = tl.zeros_like(x)
    xp = tl.zeros_like(x) + 1.0  # x^j
    xm = tl.zeros_like(x) + 1.0  # x^(j-1)
    for j in tl.static_range(M1):
        aj, word = _coef(a_ptr + j, j, e, word, alpha, NOISE, CDT)
        if DERIV and j >= 1:
            dp = dp + (j * aj) * xm
            dpt = dpt * u + pt
        p = p + aj * xp
        pt = pt * u + aj
        xm = xp
        xp = xp * x
    N: tl.constexpr = NB - 1 if FORM == 2 else NB
    FIRST: tl.constexpr = 0 if FORM == 2 else 1
    # Denominator, ascending k: s = sum b_k z^k (z = |x| for A), st = Horner of the reversed.
    s = tl.zeros_like(x)
    ds = tl.zeros_like(x)
    st = tl.zeros_like(x) + 1.0 if (FORM == 0 or FORM == 3) else tl.zeros_like(x)
    dst = tl.zeros_like(x)
    z = ax if FORM == 0 else x
    zu = au if FORM == 0 else u
    zp = tl.zeros_like(x) + 1.0 if FORM == 2 else z  # z^(k + FIRST)
    zm = tl.zeros_like(x) + 1.0  # z^(k + FIRST - 1)
    for k in tl.static_range(NB):
        bk, word = _coef(b_ptr + k, M1 + k, e, word, alpha, NOISE, CDT)
        if FORM == 0:
            bk = tl.abs(bk)
        if DERIV:
            if k + FIRST >= 1:
                ds = ds + (k + FIRST) * bk * zm
            if (FORM == 0 or FORM == 3) or k >= 1:
                dst = dst * zu + st
        s = s + bk * zp
        if (FORM == 0 or FORM == 3) or k >= 1:
            st = st * zu + bk
        else:
            st = st + bk
        zm = zp
        zp = zp * z
    sg = tl.zeros_like(x) + 1.0
    tau = tl.zeros_like(x) + 1.0
    if FORM == 0:
        q = 1.0 + s
        dq = _sgn(x) * ds
        qt = st
        dqt = _sgn(u) * dst
    elif FORM == 3:
        q = 1.0 + s
        dq = ds
        qt = st
        dqt = dst
    else:
        OFF: tl.constexpr = 0.1 if FORM == 2 else 1.0
        sg = _sgn(s)
        q = OFF + tl.abs(s)
        dq = sg * ds
        tau = _sgn(st)
        qt = OFF * _spow(au, au, N) + tl.abs(st)
        dqt = tau * dst
        if N > 0:
            dqt = dqt + (OFF * N) * _sgn(u) * _spow(au, au, N - 1)
    return p, dp, q, dq, sg, pt, dpt, qt, dqt, tau


@triton.jit
def _alpha(alpha_bits, CDT: tl.constexpr):
    # alpha travels as the int64 bits of a float64: a plain scalar argument, exact in
    # float64 (a float argument would be rounded to float32) and never a tensor.
    return tl.cast(tl.cast(alpha_bits, tl.int64).to(tl.float64, bitcast=True), CDT)


@triton.jit
def _sigma(x, N: tl.constexpr, FORM: tl.constexpr):
    """sign(x)^n (1 for form N): the sign the 1/x form carries."""
    if FORM != 3 and N % 2 == 1:
        return _sgn(x)
    else:
        return tl.zeros_like(x) + 1.0


@triton.jit(do_not_specialize=["alpha_bits"])
def _pau_forward_kernel(x_ptr, y_ptr, a_ptr, b_ptr, seed_ptr, alpha_bits, row_len,
                        G: tl.constexpr, M1: tl.constexpr, NB: tl.constexpr, FORM: tl.constexpr,
                        NOISE: tl.constexpr, CDT: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    blocks_per_row = tl.cdiv(row_len, BLOCK)
    row = pid // blocks_per_row
    col = (pid % blocks_per_row) * BLOCK + tl.arange(0, BLOCK)
    mask = col < row_len
    offs = row * row_len + col
    group = row % G
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(CDT)
    e = _element_hash(offs, seed_ptr) if NOISE else offs.to(tl.uint32)
    alpha_c = _alpha(alpha_bits, CDT)
    N: tl.constexpr = NB - 1 if FORM == 2 else NB
    p, dp, q, dq, sg, pt, dpt, qt, dqt, tau = _evaluate(x, a_ptr + group * M1, b_ptr + group * NB, e, alpha_c,
                                                        M1, NB, FORM, NOISE, False, CDT)
    far = tl.abs(x) > FAR
    u = 1.0 / x
    y_far = (pt / qt) * _spow(x, u, M1 - 1 - N) * _sigma(x, N, FORM)
    y = tl.where(far, y_far, p / q)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _store_partial(acc, k: tl.constexpr, val, KP: tl.constexpr):
    idx = tl.arange(0, KP)
    return acc + tl.where(idx == k, tl.sum(val, axis=0).to(tl.float64), 0.0)


@triton.jit(do_not_specialize=["alpha_bits"])
def _pau_backward_kernel(g_ptr, x_ptr, gx_ptr, a_ptr, b_ptr, seed_ptr, alpha_bits, partial_ptr, row_len,
                         blocks_per_row, tiles_per_group, G: tl.constexpr, M1: tl.constexpr, NB: tl.constexpr,
                         FORM: tl.constexpr, NOISE: tl.constexpr, SIGNS_FOLDED: tl.constexpr, CDT: tl.constexpr,
                         KP: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    programs = tl.num_programs(0)
    group = tl.program_id(1)
    ap = a_ptr + group * M1
    bp = b_ptr + group * NB
    alpha_c = _alpha(alpha_bits, CDT)
    N: tl.constexpr = NB - 1 if FORM == 2 else NB
    D: tl.constexpr = M1 - 1 - N
    FIRST: tl.constexpr = 0 if FORM == 2 else 1
    acc = tl.zeros((KP,), dtype=tl.float64)
    for tile in range(pid, tiles_per_group, programs):
        tile64 = tl.cast(tile, tl.int64)
        row = (tile64 // blocks_per_row) * G + group
        col = (tile64 % blocks_per_row) * BLOCK + tl.arange(0, BLOCK)
        mask = col < row_len
        offs = row * row_len + col
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(CDT)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(CDT)
        e = _element_hash(offs, seed_ptr) if NOISE else offs.to(tl.uint32)
        p, dp, q, dq, sg, pt, dpt, qt, dqt, tau = _evaluate(x, ap, bp, e, alpha_c, M1, NB, FORM, NOISE, True,
                                                            CDT)
        far = tl.abs(x) > FAR
        u = 1.0 / x
        # Direct form: dL/dP and dL/dQ.
        w = tl.where(mask, g / q, 0.0)
        v = -w * p / q
        # 1/x form (reference._far_grads).
        r = pt / qt
        dr = (dpt - r * dqt) / qt
        gs = tl.where(mask, g * _sigma(x, N, FORM), 0.0)
        gx_far = gs * _spow(x, u, D - 1) * (D * r - u * dr)
        tl.store(gx_ptr + offs, tl.where(far, gx_far, w * dp + v * dq).to(gx_ptr.dtype.element_ty), mask=mask)
        xp = tl.zeros_like(x) + 1.0
        for j in tl.static_range(M1):
            acc = _store_partial(acc, j, tl.where(far, gs * _spow(x, u, j - N) / qt, w * xp), KP)
            xp = xp * x
        ax = tl.abs(x)
        if FORM == 0:
            zp = ax
        elif FORM == 2:
            zp = tl.zeros_like(x) + 1.0
        else:
            zp = x
        vs = v if (FORM == 0 or FORM == 3) else v * sg
        for k in tl.static_range(NB):
            near_k = vs * zp
            far_k = -gs * r * _spow(x, u, D - N + k + FIRST) / qt
            if FORM == 0:
                far_k = far_k * _spow(_sgn(x), _sgn(x), N - k - FIRST)
                if not SIGNS_FOLDED:
                    bk = _coef_alone(bp + k, M1 + k, e, alpha_c, NOISE, CDT)
                    near_k = near_k * _sgn(bk)
                    far_k = far_k * _sgn(bk)
            elif FORM != 3:
                far_k = far_k * tau
            acc = _store_partial(acc, M1 + k, tl.where(far, far_k, near_k), KP)
            zp = zp * (ax if FORM == 0 else x)
    idx = tl.arange(0, KP)
    tl.store(partial_ptr + (group * programs + pid) * KP + idx, acc)


def _float_bits(value: float) -> int:
    return struct.unpack("<q", struct.pack("<d", float(value)))[0]


def _tl_dtype(dtype: torch.dtype):
    return tl.float64 if dtype == torch.float64 else tl.float32


@functools.lru_cache(maxsize=None)
def _sm_count(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def _device_guard(x: torch.Tensor):
    """Launch on x's device (tensors on cuda:1 work whatever the current device)."""
    return torch.cuda.device(x.device) if x.is_cuda else _NullGuard()


class _NullGuard:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _prepare(x, numerator, denominator, groups, alpha, seed):
    cdt = compute_dtype(x)
    xc = x.contiguous()
    a = numerator.detach().to(cdt).contiguous()
    b = denominator.detach().to(cdt).contiguous()
    rows, row_len = rows_layout(xc, groups)
    noise = bool(alpha) and seed is not None
    # Without noise the seed is never read: any device pointer will do (no allocation per call).
    seed_t = seed.reshape(-1)[:1] if noise else xc
    if noise and (seed_t.device != x.device or seed_t.dtype != torch.int64):
        seed_t = seed_t.to(device=x.device, dtype=torch.int64)
    return xc, a, b, rows, row_len, noise, seed_t, cdt


def forward(x, numerator, denominator, form: str, groups: int, alpha: float = 0.0, seed=None,
            block: int | None = None) -> torch.Tensor:
    """y = PAU(x); ``block`` fixes the block size (None: autotuned on a GPU, DEFAULT_BLOCK otherwise)."""
    xc, a, b, rows, row_len, noise, seed_t, cdt = _prepare(x, numerator, denominator, groups, alpha, seed)
    y = torch.empty_like(xc)
    if not xc.numel():
        return y
    args = dict(G=groups, M1=a.shape[-1], NB=b.shape[-1], FORM=FORM_IDS[form], NOISE=noise, CDT=_tl_dtype(cdt))
    with _device_guard(x):
        if block is None and xc.is_cuda and not _INTERPRET:
            def grid(meta):
                return (rows * triton.cdiv(row_len, meta["BLOCK"]),)
            _forward_tuned[grid](xc, y, a, b, seed_t, _float_bits(alpha), row_len, **args)
        else:
            block = block or DEFAULT_BLOCK
            bpr = triton.cdiv(row_len, block)
            _pau_forward_kernel[(rows * bpr,)](xc, y, a, b, seed_t, _float_bits(alpha), row_len, **args, BLOCK=block)
    return y


def _programs_per_group(x: torch.Tensor, groups: int, tiles_per_group: int) -> int:
    if x.is_cuda and not _INTERPRET:
        total = PROGRAMS_PER_SM * _sm_count(x.device.index if x.device.index is not None else
                                            torch.cuda.current_device())
    else:
        total = 8
    return max(1, min(tiles_per_group, -(-total // groups)))


def backward(grad_out, x, numerator, denominator, form: str, groups: int, alpha: float = 0.0, seed=None,
             block: int | None = None):
    """(grad_x, grad_numerator, grad_denominator); coefficient grads summed in float64."""
    xc, a, b, rows, row_len, noise, seed_t, cdt = _prepare(x, numerator, denominator, groups, alpha, seed)
    g = grad_out.to(x.dtype).contiguous()
    gx = torch.empty_like(xc)
    m1, nb = a.shape[-1], b.shape[-1]
    kp = triton.next_power_of_2(m1 + nb)
    form_id = FORM_IDS[form]
    if not xc.numel():
        coef_grad = torch.zeros(groups, m1 + nb, dtype=torch.float64, device=x.device)
    else:
        block = block or DEFAULT_BLOCK
        bpr = triton.cdiv(row_len, block)
        tiles_per_group = (rows // groups) * bpr
        programs = _programs_per_group(x, groups, tiles_per_group)
        partial = torch.empty(groups, programs, kp, dtype=torch.float64, device=x.device)
        # Form A takes sign(b_k) from the clean coefficient unless noise can flip it (alpha > 1).
        folded = not (noise and form_id == 0 and alpha > 1.0)
        with _device_guard(x):
            _pau_backward_kernel[(programs, groups)](
                g, xc, gx, a, b, seed_t, _float_bits(alpha), partial, row_len, bpr, tiles_per_group, G=groups, M1=m1,
                NB=nb, FORM=form_id, NOISE=noise, SIGNS_FOLDED=folded, CDT=_tl_dtype(cdt), KP=kp, BLOCK=block,
                num_warps=BACKWARD_WARPS)
        coef_grad = partial.sum(dim=1)[:, : m1 + nb]  # fixed order over the P programs of each group
        if form_id == 0 and folded:
            coef_grad[:, m1:] *= torch.where(b >= 0, 1.0, -1.0).to(torch.float64).reshape(groups, nb)
    grad_num = coef_grad[:, :m1].to(numerator.dtype, copy=True).reshape(numerator.shape)
    grad_den = coef_grad[:, m1:].to(denominator.dtype, copy=True).reshape(denominator.shape)
    return gx, grad_num, grad_den


_forward_tuned = triton.autotune(configs=_CONFIGS, key=["row_len"])(_pau_forward_kernel)
