"""``pau-train`` (Hydra) and ``pau-eval``."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Callable

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from pau.repro import runs
from pau.repro.errors import UserError, report_user_errors
from pau.repro.resources import config_dir
from pau.repro.training.config import TrainConfig, register_configs
from pau.repro.training.run import check_checkpoint, run

CONF_DIR = config_dir()  # the one place the commands' config folder is named
_ARGV = list(sys.argv)  # as typed: a multirun job rewrites sys.argv (see _single_job_argv)


def _single_job_argv() -> list[str]:
    """This multirun job's command line as a single run: Lightning re-executes
    ``sys.argv`` to start the other DDP processes, and the sweep's own command line
    would start the whole sweep in each of them."""
    keep = [a for a in _ARGV[1:] if a.startswith("-") and a not in ("-m", "--multirun")]
    return [_ARGV[0], *keep, *HydraConfig.get().overrides.task]


def with_command_line(cfg: DictConfig) -> DictConfig:
    """``cfg`` knowing the command line's overrides, which name its run folder (Hydra
    hands the task its config without its own node)."""
    with open_dict(cfg):
        cfg.hydra = {"overrides": {"task": list(HydraConfig.get().overrides.task)}}
    return cfg


def require_config_dir(argv: list[str]) -> None:
    """Before Hydra: a missing config folder named in one line, unless the command
    line brings its own (``--config-dir`` / ``-cd``)."""
    if CONF_DIR.is_dir() or any(a.startswith(("--config-dir", "-cd")) for a in argv):
        return
    raise UserError(f"no configuration folder at {CONF_DIR}; reinstall the package, "
                    f"or give your own with --config-dir DIR")


def check_group_keys(argv: list[str], schema: type, config_dir: Path = CONF_DIR) -> None:
    """Before Hydra: a mistyped key inside a config group fails naming the group's
    valid keys (Hydra would only say that it is not there). ``activation``'s keys are
    those of the chosen unit's file (``conf/activation/<name>.yaml``)."""
    choices = dict(a.split("=", 1) for a in argv if "=" in a and "." not in a.split("=", 1)[0])
    for arg in argv:
        key = arg.split("=", 1)[0]
        if arg.startswith(("-", "+", "~")) or "=" not in arg or "." not in key or key.startswith("hydra."):
            continue
        group, *rest = key.split(".")
        if group == "activation":
            choice = choices.get("activation", "pau" if "experiment" not in choices else None)
            path = config_dir / "activation" / f"{choice}.yaml"
            if choice is None or "," in choice or not path.is_file():
                continue
            valid = sorted(set(yaml.safe_load(path.read_text()) or {}) - {"_target_", "defaults"})
            if rest[0] not in valid:
                raise UserError(f"activation {choice!r} has no key {rest[0]!r}; its keys: {', '.join(valid)}")
            continue
        node = schema
        for depth, part in enumerate([group, *rest]):
            if not dataclasses.is_dataclass(node):
                break
            fields = {f.name: f for f in dataclasses.fields(node)}
            if part not in fields:
                where = ".".join([group, *rest][:depth]) or "the configuration"
                raise UserError(f"{where} has no key {part!r}; its keys: "
                                f"{', '.join(sorted(k for k in fields if k != '_target_'))}")
            default = fields[part].default_factory() if fields[part].default_factory is not dataclasses.MISSING \
                else None
            node = type(default) if dataclasses.is_dataclass(default) else None


@report_user_errors("pau-train")
def _train(cfg: DictConfig) -> dict:
    # Lightning starts DDP processes from the first one (LOCAL_RANK unset or 0).
    spawns = str(cfg.trainer.strategy).startswith("ddp") and int(os.environ.get("LOCAL_RANK", 0)) == 0
    if spawns and HydraConfig.get().mode == RunMode.MULTIRUN:
        sys.argv = _single_job_argv()
    result = run(with_command_line(cfg), run_dir=HydraConfig.get().runtime.output_dir)
    print(json.dumps(result, indent=2))
    return result


def hydra_command(prog: str, config_name: str, schema: type, register: Callable[[], None],
                  task: Callable[[DictConfig], dict]) -> None:
    """Run ``task`` as the Hydra command ``prog`` on ``conf/<config_name>.yaml``: the
    config folder and the group keys are checked first, each in one line."""
    report_user_errors(prog)(require_config_dir)(sys.argv[1:])
    report_user_errors(prog)(check_group_keys)(sys.argv[1:], schema)
    register()
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(task)()


def train_main() -> None:
    hydra_command("pau-train", "train", TrainConfig, register_configs, _train)


def _checkpoint_path(path: Path) -> Path:
    path = runs.checkpoint_path(path) if path.is_dir() else path
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}",
                        hint="give a .ckpt file or a run folder holding checkpoints/last.ckpt")
    return path


def evaluate(checkpoint: str | Path, overrides: list[str] = (), accelerator: str = "auto") -> dict:
    """Test accuracy (and loss) of a checkpoint on its run's test set. ``overrides``
    are ``key=value`` changes to the saved configuration, e.g. ``data.root=/data``."""
    import lightning as L

    from pau.repro.training.build import build_datamodule
    from pau.repro.training.module import PAUClassifier

    path = _checkpoint_path(Path(checkpoint))
    check_checkpoint(path)
    try:
        module = PAUClassifier.load_from_checkpoint(path, map_location="cpu")
    except (RuntimeError, OSError, EOFError, KeyError) as exc:
        raise UserError(f"the checkpoint {path} cannot be loaded ({exc})",
                        hint="it may be damaged or from another version; retrain the run or restore the file") from None
    cfg = OmegaConf.merge(OmegaConf.create(module.config), OmegaConf.from_dotlist(list(overrides)))
    datamodule = build_datamodule(cfg)
    datamodule.verify()
    trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


@report_user_errors("pau-eval")
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
