"""``pau-train`` (Hydra) and ``pau-eval``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from pau.repro.training.config import register_configs
from pau.repro.training.run import run

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
_ARGV = list(sys.argv)  # as typed: a multirun job rewrites sys.argv (see _single_job_argv)


def _single_job_argv() -> list[str]:
    """This multirun job's command line as a single run: Lightning re-executes
    ``sys.argv`` to start the other DDP processes, and the sweep's own command line
    would start the whole sweep in each of them."""
    keep = [a for a in _ARGV[1:] if a.startswith("-") and a not in ("-m", "--multirun")]
    return [_ARGV[0], *keep, *HydraConfig.get().overrides.task]


def _train(cfg: DictConfig) -> dict:
    # Lightning starts DDP processes from the first one (LOCAL_RANK unset or 0).
    spawns = str(cfg.trainer.strategy).startswith("ddp") and int(os.environ.get("LOCAL_RANK", 0)) == 0
    if spawns and HydraConfig.get().mode == RunMode.MULTIRUN:
        sys.argv = _single_job_argv()
    result = run(cfg)
    print(json.dumps(result, indent=2))
    return result


def train_main() -> None:
    if not CONF_DIR.is_dir():
        sys.exit(f"pau-train: no configuration folder at {CONF_DIR} (it ships with the source checkout)")
    register_configs()
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")(_train)()


def _checkpoint_path(path: Path) -> Path:
    return path / "checkpoints" / "last.ckpt" if path.is_dir() else path


def evaluate(checkpoint: str | Path, overrides: list[str] = (), accelerator: str = "auto") -> dict:
    """Test accuracy (and loss) of a checkpoint on its run's test set. ``overrides``
    are ``key=value`` changes to the saved configuration, e.g. ``data.root=/data``."""
    import lightning as L

    from pau.repro.training.build import build_datamodule
    from pau.repro.training.module import PAUClassifier

    module = PAUClassifier.load_from_checkpoint(_checkpoint_path(Path(checkpoint)), map_location="cpu")
    cfg = OmegaConf.merge(OmegaConf.create(module.config), OmegaConf.from_dotlist(list(overrides)))
    datamodule = build_datamodule(cfg)
    datamodule.verify()
    trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def eval_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pau-eval", description="Evaluate a pau-train checkpoint on its test set.")
    parser.add_argument("checkpoint", help="a .ckpt file, or a run folder (uses checkpoints/last.ckpt)")
    parser.add_argument("overrides", nargs="*", help="key=value changes to the saved config, e.g. data.root=/data")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (default)")
    parser.add_argument("--output", help="also write the metrics to this JSON file")
    args = parser.parse_args(argv)
    metrics = evaluate(args.checkpoint, args.overrides, args.accelerator)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    train_main()
