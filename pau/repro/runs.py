"""The run folder: what ``pau-train`` writes, how a run is named and recognised, its
status, and the lock that keeps two processes from training it at once.

A run folder holds

- ``config.yaml``: the resolved configuration (what ``pau-collect`` reads);
- ``run.yaml``: the keys that tell this run from the composed defaults (they name the
  folder), the network's class and parameter count, the CPU thread count;
- ``metrics.csv``: one row per finished epoch;
- ``checkpoints/last.ckpt``: the state to resume from;
- ``final_metrics.json``: once finished; ``error.txt``: if the last attempt failed;
- ``pau-train.log``: the log of every attempt; ``.hydra/``: Hydra's record of the command;
- ``wandb_id.txt``: the W&B run id (a resumed run continues its W&B run);
- ``.lock`` and ``running.json``: held, and who holds them, while a process trains it.

A ``pau-prune`` folder holds ``prune_config.yaml``, ``init.pt``, ``pruning.csv``,
``final_pruning.json`` and a ``level<k>/`` per level (``plan.json``, ``result.json``,
``weights.pt`` and a training run's files). Only this module spells these names.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import secrets
import socket
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml

from .errors import UserError

CONFIG = "config.yaml"
RUN_INFO = "run.yaml"
METRICS = "metrics.csv"
FINAL = "final_metrics.json"
ERROR = "error.txt"
LOG = "pau-train.log"
WANDB_ID = "wandb_id.txt"
REPLICAS = "replicas.json"
CHECKPOINTS = "checkpoints"
LAST_CKPT = Path(CHECKPOINTS) / "last.ckpt"
HYDRA_DIR = ".hydra"
LOCK = ".lock"
HOLDER = "running.json"
LOGS = "logs"  # Lightning's step-level CSV log, a version per attempt

# A pau-prune run folder: its own files, then a level<k>/ training folder per level
# (the files above, plus the level's plan, result and weights). Not config.yaml, so
# pau-collect does not count the levels as training runs.
PRUNE_CONFIG = "prune_config.yaml"
PRUNE_TABLE = "pruning.csv"
PRUNE_FINAL = "final_pruning.json"
PRUNE_INIT = "init.pt"
LEVEL_PLAN = "plan.json"
LEVEL_RESULT = "result.json"
LEVEL_WEIGHTS = "weights.pt"

# Statuses of a run folder.
NEW = "new"
RUNNING = "running"
INTERRUPTED = "interrupted"
FINISHED = "finished"
FAILED_BEFORE_CHECKPOINT = "failed before its first checkpoint"


# -- readers --------------------------------------------------------------------------------
def read_json(path: str | Path) -> Any:
    """The JSON document at ``path``, or None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_config(run_dir: str | Path) -> dict | None:
    """The resolved configuration a run folder holds, or None if it has none (or it is unreadable)."""
    try:
        cfg = yaml.safe_load((Path(run_dir) / CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return cfg if isinstance(cfg, dict) else None


def read_final(run_dir: str | Path) -> dict | None:
    """A finished run's ``final_metrics.json``, or None if the run has not finished."""
    final = read_json(Path(run_dir) / FINAL)
    return final if isinstance(final, dict) and final.get("status") == FINISHED else None


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / LAST_CKPT


def is_run_folder(path: str | Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def find_run_folders(roots: Iterable[str | Path]) -> list[Path]:
    """Folders below ``roots`` (or the roots themselves) holding a ``config.yaml``."""
    found = set()
    for root in map(Path, roots):
        for config in root.rglob(CONFIG):
            if HYDRA_DIR not in config.parts[len(root.parts):]:
                found.add(config.parent)
    return sorted(found)


# -- writing ----------------------------------------------------------------------------
def write_atomic(path: str | Path, text: str, newline: str | None = None) -> None:
    """Write through a temporary file, so a reader (or a crash) never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, newline=newline)
    tmp.replace(path)


def write_csv_atomic(path: str | Path, columns: list[str], rows: list[dict]) -> None:
    """``rows`` as a CSV of ``columns`` (other keys left out), written as :func:`write_atomic` writes."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, out.getvalue(), newline="")  # the csv module's own line ends


# -- identity ---------------------------------------------------------------------------
# Keys that say where or how a run executes, or how it reports, but not what it trains:
# a finished run is reused whatever their values, and an interrupted one may resume
# with others (on another device, with another data folder, another logger).
NON_IDENTITY_KEYS = (
    "paths",  # where the run goes
    "logger",  # where it reports (metrics.csv is written either way)
    "budget",  # a free-text note
    "checkpoint",  # how often last.ckpt is rewritten: resuming repeats the same epochs
    "data.root",
    "data.download",
    "data.num_workers",  # loader processes; ImageNet's augmentation is seeded per sample
    "data.eval_batch_size",  # the test set's numbers are sums over samples
    "trainer.accelerator",
    "trainer.devices",  # data.batch_size is the global batch whatever the device count
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.max_time",  # a time budget stops at an epoch's end: the next call resumes
    "trainer.log_every_n_steps",
    "trainer.num_sanity_val_steps",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
)
# Command-line keys that never name a folder: the grid part and the seed are the
# folder's other levels; the experiment, the recipe, the setup (a network with its
# training setup) and the launcher choose the defaults and the way of running (their
# effect is in the run's identity); Hydra's own keys are not the run's.
UNNAMED_CHOICES = ("data", "model", "activation", "seed", "experiment", "recipe", "setup", "launcher")
UNNAMED_OVERRIDES = ("hydra",
                     # pau-prune: a longer list of levels continues the same run
                     "pruning.levels", "pruning.timing", "pruning.keep_checkpoints")
PYTHON_MODEL_PREFIX = "python-"
NAME_PART = re.compile(r"^[\w.,=+\-\[\]]{1,120}$")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _under(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def identity(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What decides what a run trains: its resolved configuration, flattened, less
    :data:`NON_IDENTITY_KEYS`. A network given from Python is its ``model`` node
    (class and parameter count), so it is never taken for a configured one."""
    return {k: v for k, v in flatten({k: v for k, v in cfg.items() if k != "hydra"}).items()
            if not _under(k, NON_IDENTITY_KEYS)}


# Keys a run saved by an earlier version lacks, with the value that trains as it did:
# such a run still resumes (and is still skipped) when the current value is that one.
# A group's _target_ is implied by its option's name in those runs.
ADDED_KEYS = {"activation.groups": 1, "trainer.threads": None, "data.random_rotation": 0.0,
              "activation.slope_penalty": 0.0, "activation.warmup_epochs": 0, "activation.threshold_quantile": 0.9,
              "model.weight_init": "pytorch"}


def _absent_as_before(key: str, value: Any) -> bool:
    return key.endswith("._target_") or (key in ADDED_KEYS and ADDED_KEYS[key] == value)


def lasting_identity(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`identity` less the keys an earlier version's run lacks and that hold the
    value it trained with (:data:`ADDED_KEYS`, the groups' ``_target_``): equal for a run
    saved before such a key was added and the same run saved after."""
    return {k: v for k, v in identity(cfg).items() if not _absent_as_before(k, v)}


def differing_keys(saved: Mapping[str, Any], current: Mapping[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """Dotted keys whose values make ``saved`` and ``current`` different runs."""
    a, b = identity(saved), identity(current)
    ignore = tuple(ignore)
    return sorted(k for k in set(a) | set(b)
                  if not _under(k, ignore) and a.get(k, "<absent>") != b.get(k, "<absent>")
                  and not (k not in a and _absent_as_before(k, b[k])))


def describe_changes(saved: Mapping[str, Any], current: Mapping[str, Any], keys: Iterable[str]) -> str:
    a, b = flatten(saved), flatten(current)
    return "; ".join(f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}" for k in keys)


def _value_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_value_text(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, bool):  # as the command line spells them
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def named_overrides(root, overrides: Iterable[str]) -> dict[str, str]:
    """The command-line changes that name a run's folder: ``{key: value}``, a key's value
    as the resolved configuration holds it (``optim.lr=1e-2`` and ``optim.lr=0.01``
    name one folder); a config group's as chosen (``optim=sgd``)."""
    from omegaconf import OmegaConf

    named = {}
    for text in overrides:
        key, sep, value = str(text).partition("=")
        key = key.lstrip("+~")
        unnamed = key in UNNAMED_CHOICES or _under(key, UNNAMED_OVERRIDES) or _under(key, NON_IDENTITY_KEYS)
        if not sep or unnamed or "/" in key:  # "/": a choice inside a group, e.g. hydra/launcher
            continue
        node = OmegaConf.select(root, key, default=None, throw_on_missing=False)
        if OmegaConf.is_dict(node):  # a config group: the choice names it
            named[key] = value
        else:
            named[key] = _value_text(OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node)
    return dict(sorted(named.items()))


def overrides_part(named: Mapping[str, str]) -> str:
    """The folder level spelling ``named`` (Hydra's ``override_dirname`` style), or a short
    hash of it where it would be too long or not a safe file name (``run.yaml`` spells it out)."""
    if not named:
        return ""
    text = ",".join(f"{k}={v}" for k, v in named.items())
    if NAME_PART.match(text):
        return text
    return "h-" + hashlib.sha1(text.encode()).hexdigest()[:10]


def task_overrides(root) -> list[str]:
    """The command line's overrides of the run being composed: from the config's
    ``hydra`` node, or the running Hydra job's; none for a config composed without them."""
    from omegaconf import OmegaConf

    node = OmegaConf.select(root, "hydra.overrides.task", default=None) if OmegaConf.is_config(root) else None
    if node is not None:
        return [str(o) for o in node]
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return [str(o) for o in HydraConfig.get().overrides.task]
    return []


def run_name(root, model_name: str | None = None) -> str:
    """``<data>/<model>/<activation>[/<overrides>]/seed<k>``: the grid part, what the
    command line changed beyond it (:func:`named_overrides`), then the seed."""
    from omegaconf import OmegaConf

    get = lambda key: OmegaConf.select(root, key)  # noqa: E731
    part = overrides_part(named_overrides(root, task_overrides(root)))
    levels = [get("data.name"), model_name or get("model.name"), get("activation.name"), part, f"seed{get('seed')}"]
    return "/".join(str(p) for p in levels if p != "")


def register_resolvers() -> None:
    """``${pau.run_name:}``, the folder name the configs use (see :func:`run_name`)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("pau.run_name"):
        OmegaConf.register_new_resolver("pau.run_name", lambda *, _root_: run_name(_root_))
    if not OmegaConf.has_resolver("pau.jobs_per_node"):
        OmegaConf.register_new_resolver("pau.jobs_per_node", jobs_per_node)


def run_info(cfg: Mapping[str, Any], named: Mapping[str, str], model=None) -> dict:
    """``run.yaml``: what tells this run from the composed defaults, and its network."""
    info = {"name": cfg["paths"]["run_name"], "overrides": dict(named)}
    if model is not None:
        info["model"] = {"class": f"{type(model).__module__}.{type(model).__qualname__}",
                         "num_parameters": sum(p.numel() for p in model.parameters()), "source": "python"}
    threads = cfg.get("trainer", {}).get("threads")
    if threads is not None:
        info["cpu_threads"] = threads
    # Where the last attempt ran: a sweep on one node gives each job its own GPUs.
    info["host"], info["pid"] = socket.gethostname(), os.getpid()
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        info["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return info


def python_model_node(model) -> dict:
    """The ``model`` node recorded for a network given from Python."""
    cls = type(model)
    return {"name": f"{PYTHON_MODEL_PREFIX}{cls.__name__}", "class": f"{cls.__module__}.{cls.__qualname__}",
            "num_parameters": sum(p.numel() for p in model.parameters())}


# -- status -----------------------------------------------------------------------------
def status(run_dir: str | Path) -> str:
    """One of ``new``, ``running``, ``interrupted``, ``finished``, or ``failed before its
    first checkpoint`` (which the next command replaces: there is nothing to resume)."""
    folder = Path(run_dir)
    if read_final(folder) is not None:
        return FINISHED
    if holder(folder) is not None:
        return RUNNING
    if not (folder / CONFIG).is_file():
        return NEW
    if (folder / LAST_CKPT).is_file():
        return INTERRUPTED
    return FAILED_BEFORE_CHECKPOINT


def holder(run_dir: str | Path) -> dict | None:
    """Who trains the run now (``{"pid", "host", "started"}``), or None if nobody does."""
    from filelock import FileLock, Timeout

    folder = Path(run_dir)
    if not (folder / LOCK).is_file():
        return None
    probe = FileLock(str(folder / LOCK))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return read_json(folder / HOLDER) or {"pid": "?", "host": "?"}
    except OSError:  # a folder we may not write: nobody can train it there either
        return None
    probe.release()
    return None


class RunConflictError(UserError):
    """The run folder holds a run of a different configuration."""


class RunBusyError(UserError):
    """Another process trains this run."""


def _holder_text(info: Mapping[str, Any]) -> str:
    since = info.get("started")
    when = f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))}" if since else ""
    return f"process {info.get('pid', '?')} on {info.get('host', '?')}{when}"


@contextlib.contextmanager
def locked(run_dir: str | Path, timeout: float | None = None, say=print) -> Iterator[None]:
    """Hold ``run_dir``'s lock while the block runs. If another process holds it, wait
    for it (``timeout`` seconds at most; None: as long as it takes, 0: not at all) and
    raise :class:`RunBusyError` naming it if it does not let go. The operating system
    frees the lock of a process that dies, so a stale lock is taken over at once."""
    from filelock import FileLock, Timeout

    folder = Path(run_dir)
    lock = FileLock(str(folder / LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        info = read_json(folder / HOLDER) or {}
        busy = f"{folder} is being trained by {_holder_text(info)}"
        if timeout == 0:
            raise RunBusyError(f"{busy}; wait for it to finish (or stop it), then run this command again") from None
        say(f"{busy}; waiting for it")
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            raise RunBusyError(f"{busy}; still running after {timeout:g} s (paths.lock_timeout); "
                               f"run this command again once it is done") from None
    try:
        write_atomic(folder / HOLDER, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                  "started": time.time()}))
        yield
    finally:
        (folder / HOLDER).unlink(missing_ok=True)
        lock.release()


def ensure_writable(folder: str | Path) -> None:
    """Create ``folder`` (and its parents), or raise a :class:`UserError` saying why not."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write the run folder {folder} ({exc.strerror or exc})",
                        hint="choose a folder you may write, e.g. paths.runs_dir=$HOME/runs") from None


def wandb_id(run_dir: str | Path) -> str:
    """The W&B run id of this run folder, made once: a resumed run continues its W&B run."""
    path = Path(run_dir) / WANDB_ID
    if path.is_file():
        return path.read_text().strip()
    run_id = secrets.token_hex(6)  # W&B ids: letters and digits
    write_atomic(path, run_id)
    return run_id


# -- checks before anything is written ---------------------------------------------------
def validate(cfg: Mapping[str, Any]) -> None:
    """Values the schema's types cannot rule out: a :class:`UserError` naming the key."""
    def need(ok: bool, key: str, value: Any, rule: str) -> None:
        if not ok:
            raise UserError(f"{key}={value!r} is invalid: {rule}")

    seed = cfg.get("seed")
    need(isinstance(seed, int) and 0 <= seed < 2**32, "seed", seed, "a whole number from 0 to 4294967295")
    data = cfg.get("data", {})
    for key in ("batch_size", "eval_batch_size"):
        if key in data:
            value = data[key]
            need(isinstance(value, int) and value >= 1, f"data.{key}", value, "at least 1")
    for key in ("train_subset", "test_subset"):
        value = data.get(key)
        need(value is None or (isinstance(value, int) and value >= 1), f"data.{key}", value, "null or at least 1")
    trainer = cfg.get("trainer", {})
    epochs = trainer.get("max_epochs")
    need(epochs is None or (isinstance(epochs, int) and epochs >= 1), "trainer.max_epochs", epochs, "at least 1")
    threads = trainer.get("threads")
    need(threads is None or (isinstance(threads, int) and threads >= 1), "trainer.threads", threads,
         "null (the machine's default) or at least 1")


def jobs_per_node(gpus: Any, per_job: Any) -> int:
    """How many jobs fit side by side on ``gpus`` (a list or ``"0,1,..."``), ``per_job`` each."""
    count = len(parse_devices(gpus))
    per = int(per_job) if str(per_job).isdigit() else 1
    return max(1, count // max(per, 1))


def parse_devices(gpus: Any) -> list[str]:
    if isinstance(gpus, str):
        return [g.strip() for g in gpus.split(",") if g.strip()]
    return [str(g) for g in gpus]
