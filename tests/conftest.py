import os

# Triton kernels are tested on the CPU through its interpreter; the switch must be
# set before triton is first imported.
os.environ.setdefault("TRITON_INTERPRET", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

BIN = Path(sys.executable).parent
QUIET = ("trainer.enable_progress_bar=false", "trainer.enable_model_summary=false")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def hydra_ctx():
    """Inside: ``compose("train", ...)`` and ``compose("prune", ...)`` on the shipped configs."""
    from hydra import initialize_config_dir

    from pau.repro.pruning.config import register_configs
    from pau.repro.resources import config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        yield


@pytest.fixture
def train_config():
    """``train_config(*overrides)``: what ``pau-train <overrides>`` runs, quietly."""
    from pau.repro.training import compose_config

    return lambda *overrides: compose_config(*QUIET, *overrides)


def pau_command(command: str, *args: str, cwd=None, env=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run one of the package's commands (``pau-train`` ...) in a process of its own."""
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([str(BIN / command), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def pau_cli():
    """``pau_cli("pau-train", *args)``: a command's completed process (see :func:`pau_command`)."""
    return pau_command


@pytest.fixture
def crash_at_epoch():
    """``crash_at_epoch(k)``: a Lightning callback that raises at the start of epoch k (a crash mid-run)."""
    import lightning as L

    class CrashAtEpoch(L.Callback):
        def __init__(self, epoch: int):
            self.epoch = epoch

        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch == self.epoch:
                raise RuntimeError("simulated crash")

    return CrashAtEpoch
