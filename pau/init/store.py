"""Where the project's coefficients come from: the shipped file, else memory, the
disk cache (``pau.cache``) or a fresh fit."""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from ..cache import cache_dir
from ..fit.lsq import DEFAULT_POINTS
from . import fitting
from .datafile import DATA_VERSION, load_shipped
from .entries import INTERVAL, Entry, entry_key


def disk_dir() -> Path | None:
    """The folder of fitted entries, or None where the disk cache is off."""
    root = cache_dir()
    return root / f"init-v{DATA_VERSION}" if root is not None else None


def _disk_key(key: str) -> str:
    # The fitting grid is part of what a cached result means.
    full = f"v{DATA_VERSION}|{key}|points={DEFAULT_POINTS}|interval={INTERVAL}"
    return hashlib.sha256(full.encode()).hexdigest()[:32]


def _disk_load(key: str) -> Entry | None:
    directory = disk_dir()
    if directory is None:
        return None
    try:
        d = json.loads((directory / f"{_disk_key(key)}.json").read_text())
        return Entry.from_json(d) if d.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _disk_store(entry: Entry) -> None:
    directory = disk_dir()
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_disk_key(entry.key)}.json"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"key": entry.key, **entry.to_json()}))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs a recomputation


@functools.lru_cache(maxsize=256)
def cached_fit(name: str, params: tuple, m: int, n: int, form: str) -> Entry:
    """The entry for checked arguments: shipped, else memory, disk, or computed."""
    key = entry_key(name, dict(params), m, n, form)
    entry = load_shipped().get(key) or _disk_load(key)
    if entry is None:
        entry = fitting.compute(name, m, n, form, **dict(params))
        _disk_store(entry)
    return entry
