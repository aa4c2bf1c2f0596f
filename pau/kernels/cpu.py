"""The fused CPU kernel: compiled on first use with the system C++ compiler, cached.

The kernel is plain C++ with OpenMP and no PyTorch headers, so installing the
package needs no build step; the first use compiles it (about 18 seconds with GCC 12
on 2 cores: every form, dtype and noise setting is instantiated, four translation
units at once). The shared library is cached
under ``$PAU_CACHE_DIR`` (default ``~/.cache/pau``), keyed by the source, the
compiler flags and the host CPU. Where no compiler is found, ``available()`` is
False and the op falls back to the reference with one warning.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

from ..cache import build_dir
from ..math.forms import FORM_IDS, compute_dtype

_SOURCE = Path(__file__).with_name("csrc") / "pau_cpu.cpp"
_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fPIC", "-std=c++17"]
# The source is compiled as this many translation units at once (PAU_PART: one storage
# dtype each), then linked: 18 s instead of 33 s on 2 cores, less with more.
_PARTS = 4
_lock = threading.Lock()
_library: ctypes.CDLL | None = None
_error: str | None = None
# Kernels built with other preprocessor values (variant()), and the one in use, if any.
_variants: dict[tuple[str, ...], ctypes.CDLL] = {}
_variant: ctypes.CDLL | None = None

_i64, _f64, _u64, _ptr = ctypes.c_int64, ctypes.c_double, ctypes.c_uint64, ctypes.c_void_p


def cache_dir() -> Path:
    # $PAU_CACHE_DIR, or a per-process temporary folder where it is set empty (pau.cache).
    return build_dir()


def _cpu_signature() -> str:
    # -march=native binaries are tied to the CPU that built them.
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    return platform.machine() + flags


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _check_tool(code: int, stderr: str, what: str) -> None:
    # One line: the compiler's first error, and the fix.
    if code:
        errors = [line for line in stderr.splitlines() if "error" in line] or stderr.strip().splitlines()
        detail = f": {errors[0].strip()}" if errors else ""
        raise RuntimeError(f"{what} failed (exit {code}){detail}; set CXX to a working C++17 compiler")


def _build(defines: tuple[str, ...] = ()) -> ctypes.CDLL:
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX or install g++)")
    source = _SOURCE.read_bytes()
    flags = [*_FLAGS, *(f"-D{d}" for d in defines)]
    key = hashlib.sha256(source + " ".join([cxx, *flags, _cpu_signature()]).encode()).hexdigest()[:16]
    target = cache_dir() / f"pau_cpu_{key}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Build to a private name, then rename: concurrent first uses (DDP ranks,
        # test workers) never load a half-written library.
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp) / target.name
            objects = [Path(tmp) / f"part{i}.o" for i in range(_PARTS)]
            compiles = [subprocess.Popen([cxx, *flags, f"-DPAU_PART={i}", "-c", str(_SOURCE), "-o", str(obj)],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                        for i, obj in enumerate(objects)]
            results = [(proc.communicate()[1], proc.returncode) for proc in compiles]  # wait for every part
            for stderr, code in results:
                _check_tool(code, stderr, f"compiling {_SOURCE.name} with {cxx}")
            link = subprocess.run([cxx, "-shared", "-fopenmp", *map(str, objects), "-o", str(out)],
                                  capture_output=True, text=True)
            _check_tool(link.returncode, link.stderr, f"linking {_SOURCE.name} with {cxx}")
            os.replace(out, target)
    lib = ctypes.CDLL(str(target))
    for suffix in _SUFFIX.values():
        fwd = getattr(lib, f"pau_forward_{suffix}")
        fwd.argtypes = [_ptr, _ptr, _i64, _i64, _i64, _ptr, _i64, _ptr, _i64, _i64, _f64, _u64, _i64]
        fwd.restype = None
        bwd = getattr(lib, f"pau_backward_{suffix}")
        bwd.argtypes = [_ptr, _ptr, _ptr, _i64, _i64, _i64, _ptr, _i64, _ptr, _i64, _i64, _f64, _u64, _ptr, _ptr, _i64]
        bwd.restype = None
        parts = getattr(lib, f"pau_partials_{suffix}")
        parts.argtypes = [_i64, _i64]
        parts.restype = _i64
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded kernel library, building it on first call; None if it cannot be built."""
    global _library, _error
    if _variant is not None:
        return _variant
    if _library is None and _error is None:
        with _lock:
            if _library is None and _error is None:
                try:
                    _library = _build()
                except Exception as exc:  # no compiler, read-only cache, ...
                    _error = str(exc)
    return _library


@contextlib.contextmanager
def variant(**defines: int):
    """Run the op on the kernel built with these preprocessor values, for benchmarks:
    ``with variant(PAU_PREFETCH_BYTES=0): ...`` measures the kernel without software
    prefetching. Each variant is built once; not thread-safe; the default kernel is
    back on exit."""
    global _variant
    key = tuple(f"{name}={value}" for name, value in sorted(defines.items()))
    if key not in _variants:
        _variants[key] = _build(key)
    previous, _variant = _variant, _variants[key]
    try:
        yield _variant
    finally:
        _variant = previous


def available() -> bool:
    return library() is not None


def unavailable_reason() -> str | None:
    library()
    return _error


def rows_layout(x: torch.Tensor, groups: int) -> tuple[int, int]:
    """(rows, row_len): with groups, each row is one group's channels of one sample."""
    if groups == 1 or x.numel() == 0:
        return 1, x.numel()
    rows = x.shape[0] * groups
    return rows, x.numel() // rows


# Storage dtype -> exported kernel; half types are read and written by the kernel.
_SUFFIX = {torch.float32: "f32", torch.float64: "f64", torch.bfloat16: "bf16", torch.float16: "f16"}


def _noise(alpha: float, seed: torch.Tensor | None) -> tuple[float, int]:
    """(alpha, the seed's 64 bits) as the kernels take them; noise needs a seed (without
    one the clean op runs, as in the Triton kernels)."""
    if not alpha or seed is None:
        return 0.0, 0
    return float(alpha), int(seed.reshape(-1)[0].item()) & 0xFFFFFFFFFFFFFFFF


def forward(x, numerator, denominator, form: str, groups: int, alpha: float = 0.0, seed=None) -> torch.Tensor:
    """y = PAU(x) in x's dtype; float16/bfloat16 read and written as such, computed in float32."""
    lib = library()
    dtype = compute_dtype(x)
    xc = x.contiguous()
    a = numerator.detach().to(dtype).contiguous()
    b = denominator.detach().to(dtype).contiguous()
    y = torch.empty_like(xc)
    if xc.numel():
        rows, row_len = rows_layout(xc, groups)
        getattr(lib, f"pau_forward_{_SUFFIX[x.dtype]}")(
            xc.data_ptr(), y.data_ptr(), rows, row_len, groups,
            a.data_ptr(), a.shape[-1], b.data_ptr(), b.shape[-1], FORM_IDS[form],
            *_noise(alpha, seed), torch.get_num_threads(),
        )
    return y


def backward(grad_out, x, numerator, denominator, form: str, groups: int, alpha: float = 0.0, seed=None):
    """(grad_x, grad_numerator, grad_denominator); coefficient grads reduced in float64."""
    lib = library()
    dtype = compute_dtype(x)
    xc = x.contiguous()
    g = grad_out.to(x.dtype).contiguous()
    a = numerator.detach().to(dtype).contiguous()
    b = denominator.detach().to(dtype).contiguous()
    m1, nb = a.shape[-1], b.shape[-1]
    gx = torch.empty_like(xc)
    coef_grad = torch.zeros(groups, m1 + nb, dtype=torch.float64)
    if xc.numel():
        rows, row_len = rows_layout(xc, groups)
        suffix = _SUFFIX[x.dtype]
        partial = torch.empty(getattr(lib, f"pau_partials_{suffix}")(rows, row_len), m1 + nb, dtype=torch.float64)
        getattr(lib, f"pau_backward_{suffix}")(
            g.data_ptr(), xc.data_ptr(), gx.data_ptr(), rows, row_len, groups,
            a.data_ptr(), m1, b.data_ptr(), nb, FORM_IDS[form],
            *_noise(alpha, seed), coef_grad.data_ptr(), partial.data_ptr(),
            torch.get_num_threads(),
        )
    grad_num = coef_grad[:, :m1].to(numerator.dtype, copy=True).reshape(numerator.shape)
    grad_den = coef_grad[:, m1:].to(denominator.dtype, copy=True).reshape(denominator.shape)
    return gx, grad_num, grad_den
