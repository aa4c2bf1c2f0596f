# One virtual environment in .venv; every target sets it up first (idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes (pytest-xdist); the suite is written to run in parallel.
TEST_WORKERS ?= 2
# Where MNIST/raw is (torchvision's layout), for reproduce-mnist.
DATA_ROOT ?= $(if $(PAU_DATA_ROOT),$(PAU_DATA_ROOT),data)

.PHONY: setup test test-slow reproduce reproduce-mnist bench gpu-check clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## The test suite (what CI runs).
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

## Long checks excluded from the default suite.
test-slow: setup
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

## The main job: a complete, offline reproduction on scikit-learn's digits.
reproduce: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/reproduce_digits.sh

## Table 2's MNIST experiments on the real MNIST at a CPU budget (about 2 h 30 min on 2
## cores), into results/mnist, results/mnist_authors and results/mnist_act_lr:
## `make reproduce-mnist DATA_ROOT=../shared/data`.
reproduce-mnist: setup
	DATA_ROOT="$(DATA_ROOT)" bash scripts/reproduce_mnist.sh

## Kernel benchmark (ratios against ReLU measured in the same run), also written to
## results/bench/cpu.csv (the README's speed table).
bench: setup
	GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736 $(BIN)/python scripts/bench_kernels.py --repeat 30 --csv results/bench/cpu.csv

## On a machine with a GPU: the gpu tests, Triton registers/spills, the kernel benchmark
## on 256 MB+ tensors and a short LeNet training, into results/gpu/ (under 10 minutes).
gpu-check: setup
	PYTHON=$(CURDIR)/$(BIN)/python bash scripts/gpu_check.sh

clean:
	rm -rf $(VENV) .pytest_cache
