"""The one disk cache of the library: compiled CPU kernels and fitted coefficients.

``$PAU_CACHE_DIR`` names the folder (default ``$XDG_CACHE_HOME/pau``, else
``~/.cache/pau``). Set to the empty string it means "no disk cache": fitted
coefficients are then kept in memory only and the CPU kernel is compiled into a
temporary folder of this process (``scratch_dir``), so it still loads.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

ENV = "PAU_CACHE_DIR"


def cache_dir() -> Path | None:
    """The cache folder, or None when ``$PAU_CACHE_DIR`` is set empty (no disk cache)."""
    path = os.environ.get(ENV)
    if path is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "pau"
    return Path(path) if path else None


@functools.lru_cache(maxsize=1)
def scratch_dir() -> Path:
    """A private temporary folder, removed when the process exits."""
    path = Path(tempfile.mkdtemp(prefix="pau-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def build_dir() -> Path:
    """Where a build product goes: the cache folder, else this process's scratch folder."""
    return cache_dir() or scratch_dir()
