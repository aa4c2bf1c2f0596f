"""Where the framework's shipped files are: the Hydra configs and the paper's tables.

The source tree keeps them at the top level (``conf/``, ``results/paper/``); a wheel
carries them inside this package (``pau/repro/conf``, ``pau/repro/paper``, see
setup.py). Each function returns the installed copy when there is one, else the
source checkout's.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parents[1]


def _first_with(marker: str, *folders: Path) -> Path:
    """The first folder holding ``marker``; the first folder if none does (so an
    error message names where the installed copy should be)."""
    for folder in folders:
        if (folder / marker).is_file():
            return folder
    return folders[0]


def config_dir() -> Path:
    """The folder holding ``train.yaml`` and the config groups."""
    return _first_with("train.yaml", _PACKAGE / "conf", _CHECKOUT / "conf")


def paper_dir() -> Path:
    """The folder of the paper's Tables 2-5 as CSV."""
    return _first_with("table2_mnist_fmnist.csv", _PACKAGE / "paper", _CHECKOUT / "results" / "paper")
