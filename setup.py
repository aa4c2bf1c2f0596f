"""Packages of the distribution; the metadata is in pyproject.toml.

The framework's Hydra configs (top-level ``conf/``) and the paper's tables
(``results/paper/``) stay where they are in the source tree and ship inside the
wheel as ``pau/repro/conf`` and ``pau/repro/paper``, where
``pau.repro.resources`` finds them. pyproject.toml alone cannot map a folder
outside the package tree into it while also discovering the packages.
"""
from setuptools import find_packages, setup

DATA_PACKAGES = {"pau.repro.conf": "conf", "pau.repro.paper": "results/paper"}

setup(
    packages=find_packages(include=["pau", "pau.*"]) + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    package_data={
        "pau": ["kernels/csrc/*.cpp", "init/*.json"],
        "pau.repro.conf": ["*.yaml", "**/*.yaml"],
        "pau.repro.paper": ["*.csv", "README.md"],
    },
    include_package_data=False,
)
