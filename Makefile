# One virtual environment in .venv; every target sets it up first (idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup test test-slow reproduce bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## The test suite (what CI runs).
test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## Long checks excluded from the default suite.
test-slow: setup
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

## The main job: a complete, offline reproduction on scikit-learn's digits.
reproduce: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/reproduce_digits.sh

## Kernel benchmark (ratios against ReLU measured in the same run).
bench: setup
	GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736 $(BIN)/python scripts/bench_kernels.py

clean:
	rm -rf $(VENV) .pytest_cache
