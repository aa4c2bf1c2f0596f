"""``prune(cfg)``: the pruning experiment of one (network, activation, seed), idempotently.

Level 0 trains the dense network from its initial weights θ0. Level k (pruning
percent p_k) ranks the units of every convolution of the network trained at
level k-1, removes (or masks, where channels are tied) the lowest until p_k% of
the dense network's units are gone, resets the survivors to their values in θ0
and trains again with the same schedule (Frankle & Carbin's iterative pruning
with a fixed rate per round, Appendix A.4.3).

The run folder holds ``prune_config.yaml`` (the resolved configuration; not
``config.yaml``, so ``pau-collect`` does not count the levels as training runs),
``init.pt`` (θ0), ``pruning.csv`` (a row per finished level), ``level<k>/``
(``plan.json``: the filters gone, by layer, and which layers are masked and why;
``metrics.csv`` per epoch; ``weights.pt``; ``result.json``), ``final_pruning.json``
once every level is done and ``error.txt`` if the last attempt failed. Calling
``prune`` again continues at the first level without ``result.json`` (from its
last checkpoint if it was interrupted); a longer ``pruning.levels`` list adds levels.
"""
from __future__ import annotations

import json
import math
import shutil
import traceback
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.trainer.states import TrainerStatus
from omegaconf import OmegaConf

from .. import runs
from ..errors import UserError
from ..runs import RunConflictError, differing_keys
from ..training import PAUClassifier, build_datamodule, build_model, build_trainer
from ..training.build import resolved
from ..training.callbacks import EpochRecorder
from ..training.run import check_checkpoint, cpu_threads
from .config import NON_RESULT_PRUNING_KEYS
from .graph import ChannelGraph, analyze
from .surgery import CRITERIA, apply_plan, count_parameters, inference_ms, select_filters, stored_parameters

# The pruning run's files (pau.repro.runs names them); a level's training folder is a run folder.
CONFIG, TABLE, FINAL, INIT = runs.PRUNE_CONFIG, runs.PRUNE_TABLE, runs.PRUNE_FINAL, runs.PRUNE_INIT
PLAN, RESULT, WEIGHTS = runs.LEVEL_PLAN, runs.LEVEL_RESULT, runs.LEVEL_WEIGHTS
ERROR, LAST_CKPT = runs.ERROR, runs.LAST_CKPT
COLUMNS = [
    "level", "percent", "parameters", "test_acc", "inference_ms_per_batch", "masked_layers",
    "stored_parameters", "filters", "best_test_acc", "train_loss", "epochs", "seconds",
]


def level_dir(folder: Path, level: int) -> Path:
    return Path(folder) / f"level{level}"


_read_json = runs.read_json


def _levels(cfg: dict) -> list[float]:
    levels = [float(p) for p in cfg["pruning"]["levels"]]
    if any(not 0 < p < 100 for p in levels) or any(b <= a for a, b in zip(levels, levels[1:])):
        raise UserError(f"pruning.levels must increase strictly within (0, 100); got {levels}")
    return levels


def _check_config(folder: Path, cfg: dict) -> None:
    path = folder / CONFIG
    if not path.is_file():
        return
    saved = yaml.safe_load(path.read_text()) or {}
    keys = differing_keys(saved, cfg, ignore=NON_RESULT_PRUNING_KEYS)
    old, new = [float(p) for p in saved.get("pruning", {}).get("levels", [])], _levels(cfg)
    planned = [k for k in range(1, len(old) + 1) if (level_dir(folder, k) / PLAN).is_file()]
    depth = max(planned, default=0)
    if old[:depth] != new[:depth]:
        keys.append(f"pruning.levels (the first {depth} already pruned: {old[:depth]})")
    if keys:
        raise RunConflictError(
            f"{folder} holds a pruning run of a different configuration ({'; '.join(keys)})",
            hint=f"use another runs folder (paths.runs_dir=...) or delete {folder} to replace it")


def _timing_device(cfg: dict) -> str:
    device = cfg["pruning"]["timing"]["device"]
    if device != "auto":
        return device
    gpu = str(cfg["trainer"]["accelerator"]) in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    return "cuda" if gpu else "cpu"


def input_shape(cfg: dict) -> tuple[int, int, int]:
    data = cfg["data"]
    return int(data["in_channels"]), int(data["image_size"]), int(data["image_size"])


def plan_record(graph: ChannelGraph, plan: dict, level: int, percent: float) -> dict:
    """What ``plan.json`` holds: per convolution, how it is pruned and what is gone."""
    layers = {}
    for name, info in graph.convs.items():
        gone = plan.get(name, [])
        layers[name] = {
            "mode": "removed" if info.structural else "masked",
            "filters": info.filters,
            "units": len(info.units),
            "filters_left": info.filters - len(gone),
            "pruned": list(gone),
            **({} if info.structural else {"reason": info.reason}),
        }
    return {"level": level, "percent": percent, "layers": layers}


def plan_json(record: dict) -> str:
    """``plan.json``'s text: one line per layer."""
    layers = ",\n".join(f"  {json.dumps(n)}: {json.dumps(v)}" for n, v in record["layers"].items())
    return f'{{"level": {record["level"]}, "percent": {record["percent"]}, "layers": {{\n{layers}\n}}}}\n'


def build_pruned(cfg: dict, graph: ChannelGraph, plan: dict, initial: dict | None = None,
                 trained: dict | None = None) -> torch.nn.Module:
    """The network of ``cfg`` pruned by ``plan``: from the dense state dict ``initial``
    (the survivors keep their values in it), or holding the pruned state dict ``trained``."""
    model = build_model(cfg)
    if initial is not None:
        model.load_state_dict(initial)
    apply_plan(model, graph, plan)
    if trained is not None:
        model.load_state_dict(trained)
    return model


def _train_level(cfg: dict, folder: Path, level: int, model, datamodule):
    """Train ``model`` into ``level<k>/``; the module and its epoch rows, or None if stopped early."""
    out = level_dir(folder, level)
    out.mkdir(parents=True, exist_ok=True)
    level_cfg = json.loads(json.dumps(cfg))
    level_cfg["paths"]["run_dir"] = str(out)
    level_cfg["paths"]["run_name"] = f"{cfg['paths']['run_name']}/level{level}"
    if level_cfg["logger"].get("wandb") is not None:
        runs.wandb_id(out)
    module = PAUClassifier(level_cfg, model=model)
    trainer = build_trainer(level_cfg, out, top5=module.top5)
    ckpt = out / LAST_CKPT
    if ckpt.is_file():
        check_checkpoint(ckpt)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt.is_file() else None)
    rows = next(cb for cb in trainer.callbacks if isinstance(cb, EpochRecorder)).rows
    if trainer.state.status != TrainerStatus.FINISHED or trainer.current_epoch < trainer.max_epochs or not rows:
        return None, rows
    return module, rows


def _write_table(folder: Path, results: list[dict]) -> None:
    runs.write_csv_atomic(folder / TABLE, COLUMNS, results)


def prune(cfg, run_dir=None) -> dict:
    """Run (or continue) the pruning experiment of ``cfg`` in ``run_dir`` (``pau-prune``
    passes Hydra's output directory), else ``paths.run_dir``; one process at a time
    (another waits for it, ``paths.lock_timeout``)."""
    cfg = resolved(cfg)
    runs.validate(cfg)
    folder = Path(run_dir) if run_dir is not None else Path(cfg["paths"]["run_dir"])
    cfg["paths"]["run_dir"] = str(folder)
    levels = [0.0] + _levels(cfg)
    pcfg = cfg["pruning"]
    devices = cfg["trainer"]["devices"]
    one_device = devices in (1, "1") or (isinstance(devices, list) and len(devices) == 1)
    if not one_device or int(cfg["trainer"]["num_nodes"]) != 1:
        raise UserError(f"pau-prune trains on one device (trainer=gpu or trainer=cpu); got devices={devices!r}")
    # checked before the dense training, not when the first level needs them
    choices = {"reset": ("init", "random"), "criterion": CRITERIA, "relative_to": ("original", "current")}
    for key, valid in choices.items():
        if pcfg[key] not in valid:
            raise UserError(f"pruning.{key} must be one of {', '.join(valid)}; got {pcfg[key]!r}")
    _check_config(folder, cfg)
    final = _read_json(folder / FINAL)
    if isinstance(final, dict) and final.get("status") == "finished" and final.get("levels") == levels:
        return {**final, "run_dir": str(folder), "skipped": True}
    runs.ensure_writable(folder)
    with runs.locked(folder, cfg["paths"]["lock_timeout"]), cpu_threads(cfg["trainer"].get("threads")):
        _check_config(folder, cfg)  # another process may have pruned it meanwhile
        final = _read_json(folder / FINAL)
        if isinstance(final, dict) and final.get("status") == "finished" and final.get("levels") == levels:
            return {**final, "run_dir": str(folder), "skipped": True}
        return _prune(cfg, folder, levels)


def _threads(cfg: dict):
    from ..training.run import _cpu_threads

    return _cpu_threads(cfg["trainer"].get("threads"))


def _prune(cfg: dict, folder: Path, levels: list[float]) -> dict:
    pcfg = cfg["pruning"]
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    datamodule.verify()
    runs.write_atomic(folder / CONFIG, OmegaConf.to_yaml(OmegaConf.create(cfg)))
    try:
        if (folder / INIT).is_file():
            init_state = torch.load(folder / INIT, map_location="cpu", weights_only=True)
        else:
            init_state = build_model(cfg).state_dict()
            torch.save(init_state, folder / INIT)
        graph = analyze(build_model(cfg), input_shape(cfg))
        results, plan, trained = [], {}, None
        for k, percent in enumerate(levels):
            out = level_dir(folder, k)
            done = _read_json(out / RESULT)
            record = _read_json(out / PLAN)
            if record is None:
                if k > 0:
                    if trained is None:  # resuming: the previous level's weights
                        trained = build_pruned(cfg, graph, plan, trained=torch.load(
                            level_dir(folder, k - 1) / WEIGHTS, map_location="cpu", weights_only=True))
                    plan = select_filters(trained, graph, plan, percent, pcfg["criterion"], pcfg["relative_to"])
                record = plan_record(graph, plan, k, percent)
                out.mkdir(parents=True, exist_ok=True)
                runs.write_atomic(out / PLAN, plan_json(record))
            plan = {n: layer["pruned"] for n, layer in record["layers"].items() if layer["pruned"]}
            if isinstance(done, dict) and done.get("status") == "finished":
                results.append(done)
                trained = None
                continue

            if k > 0 and pcfg["reset"] == "random":
                torch.manual_seed(cfg["seed"] * 1_000 + k)
                start = build_model(cfg).state_dict()
            else:
                start = init_state
            model = build_pruned(cfg, graph, plan, initial=start)
            module, rows = _train_level(cfg, folder, k, model, datamodule)
            if module is None:
                return {"status": "interrupted", "level": k, "epochs": len(rows), "run_dir": str(folder)}
            trained = module.model.cpu()
            accs = [r["test_acc"] for r in rows if not math.isnan(r["test_acc"])]
            timing = pcfg["timing"]
            result = {
                "status": "finished",
                "level": k,
                "percent": percent,
                "parameters": count_parameters(trained),
                "test_acc": rows[-1]["test_acc"],
                "inference_ms_per_batch": inference_ms(
                    trained, input_shape(cfg), timing["batch_size"], _timing_device(cfg),
                    timing["repeats"], timing["warmup"]),
                "masked_layers": ";".join(n for n in graph.masked if n in plan),
                "stored_parameters": stored_parameters(trained),
                "filters": sum(info.filters - len(plan.get(n, ())) for n, info in graph.convs.items()),
                "best_test_acc": max(accs) if accs else float("nan"),
                "train_loss": rows[-1]["train_loss"],
                "epochs": len(rows),
                "seconds": sum(r["epoch_seconds"] for r in rows),
            }
            torch.save(trained.state_dict(), out / WEIGHTS)
            runs.write_atomic(out / RESULT, json.dumps(result, indent=2))
            if not pcfg["keep_checkpoints"]:
                shutil.rmtree(out / LAST_CKPT.parent, ignore_errors=True)
            results.append(result)
            _write_table(folder, results)
    except BaseException:
        (folder / ERROR).write_text(traceback.format_exc())
        raise

    _write_table(folder, results)
    final = {
        "status": "finished",
        "levels": levels,
        "test_acc": {str(r["percent"]): r["test_acc"] for r in results},
        "parameters": {str(r["percent"]): r["parameters"] for r in results},
        "seconds": sum(r["seconds"] for r in results),
    }
    runs.write_atomic(folder / FINAL, json.dumps(final, indent=2))
    (folder / ERROR).unlink(missing_ok=True)
    return {**final, "run_dir": str(folder), "skipped": False}
