"""The shipped coefficient file: orders 5/4 of the common functions, every form.

``load_shipped()`` reads it (no fitting, no scipy); ``write_data(path)`` fits every
entry of ``SHIPPED`` in every form and writes it (``scripts/fit_coefficients.py``).
"""
from __future__ import annotations

import functools
import json
import time
from importlib import resources
from pathlib import Path

from ..fit.lsq import DEFAULT_POINTS
from . import fitting
from .entries import INTERVAL, Entry

DATA_VERSION = 1
DATA_FILE = f"coefficients_v{DATA_VERSION}.json"
FORMS = ("A", "B", "C", "N")
# What the data file holds: orders 5/4, every form, these names and parameters
# (the paper's Table 6 functions, and what pau.replace_activations converts most).
SHIPPED = (
    ("identity", {}),
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.01}),
    ("leaky_relu", {"negative_slope": 0.1}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": 0.25}),
    ("leaky_relu", {"negative_slope": 0.3}),
    ("leaky_relu", {"negative_slope": -0.5}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("swish", {"beta": 1.0}),
    ("gelu", {}),
    ("elu", {"alpha": 1.0}),
    ("softplus", {"beta": 1.0}),
    ("relu6", {}),
    ("hardswish", {}),
)


@functools.lru_cache(maxsize=1)
def load_shipped() -> dict[str, Entry]:
    """The shipped entries by key; empty if the file is missing."""
    try:
        text = resources.files(__package__).joinpath(DATA_FILE).read_text()
    except FileNotFoundError:
        return {}
    data = json.loads(text)
    if data.get("version") != DATA_VERSION:
        raise RuntimeError(f"{DATA_FILE} has version {data.get('version')}, expected {DATA_VERSION}")
    return {k: Entry.from_json(v) for k, v in data["entries"].items()}


def build_data(version: str, log=print) -> dict:
    """Fit every shipped entry; the file's content as a dict."""
    entries = {}
    for name, params in SHIPPED:
        for form in FORMS:
            t = time.time()
            e = fitting.compute(name, 5, 4, form, **params)
            entries[e.key] = e.to_json()
            log(f"  {e.key:40s} {e.method:13s} max {e.max_error:.3e} rms {e.rms_error:.3e} "
                f"({time.time() - t:.1f}s)")
    return {
        "version": DATA_VERSION,
        "description": "Initial PAU coefficients, orders 5/4, every denominator form; "
                       "errors are max and RMS on the fitting grid of the interval.",
        "generator": "scripts/fit_coefficients.py",
        "pau_version": version,
        "interval": list(INTERVAL),
        "points": DEFAULT_POINTS,
        "entries": entries,
    }


def dump_data(data: dict) -> str:
    """JSON with one line per entry, so that a diff shows which entries changed."""
    head = {k: v for k, v in data.items() if k != "entries"}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    lines.append(' "entries": {')
    items = list(data["entries"].items())
    for i, (k, v) in enumerate(items):
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)}" + ("," if i < len(items) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def write_data(path: Path, version: str, log=print) -> int:
    """Fit and write the data file; the number of entries."""
    data = build_data(version, log)
    Path(path).write_text(dump_data(data))
    return len(data["entries"])
