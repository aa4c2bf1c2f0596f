"""The run folder (pau.repro.runs): names, sweeps over any key, Hydra's output directory,
failed starts, Python models, the lock, CPU determinism, one-line errors, a sweep on a
multi-GPU node."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import lightning as L
import pytest
import yaml
from torch import nn

from pau.repro import runs
from pau.repro.errors import UserError
from pau.repro.training import RunConflictError, run

BIN = Path(sys.executable).parent
DIGITS = ["data=digits", "model=lenet", "trainer.max_epochs=1", "data.train_subset=128", "data.test_subset=64"]
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def finals(root: Path) -> dict[str, dict]:
    return {p.parent.relative_to(root).as_posix(): json.loads(p.read_text()) for p in root.rglob(runs.FINAL)}


def snapshot(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*")}


def one_line_error(proc: subprocess.CompletedProcess, prog: str) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("hint: ")]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: "), proc.stderr
    return lines[0]


# -- names --------------------------------------------------------------------------------
def test_folder_names_spell_what_the_command_line_changed(train_config):
    assert train_config("data=digits", "activation=rpau", "seed=3").paths.run_dir == "runs/digits/lenet/rpau/seed3"
    # in the order of the keys, values as the configuration holds them
    a = train_config("data=digits", "optim.lr=1e-2", "activation=rpau", "activation.alpha=0.1")
    b = train_config("activation=rpau", "activation.alpha=0.10", "optim.lr=0.01", "data=digits")
    assert a.paths.run_dir == b.paths.run_dir == "runs/digits/lenet/rpau/activation.alpha=0.1,optim.lr=0.01/seed0"
    # keys that cannot change what is trained do not name a folder; a group choice does
    c = train_config("data=digits", "paths.runs_dir=/r", "logger=wandb", "trainer.enable_progress_bar=true",
                     "data.root=/data", "optim=sgd")
    assert c.paths.run_dir == "/r/digits/lenet/pau/optim=sgd/seed0"
    # too long (or not a file name): a short hash, spelled out in run.yaml
    d = train_config("data=digits", "data.mean=[0.5]", "data.std=[0.25]", "optim.betas=[0.8,0.99]",
                     "optim.act_lr=0.001", "optim.act_weight_decay=0.0001", "schedule.epochs=3", "seed=1")
    assert d.paths.run_dir.startswith("runs/digits/lenet/pau/h-") and d.paths.run_dir.endswith("/seed1")


def test_identity_leaves_out_where_and_how_a_run_executes():
    base = {"seed": 0, "optim": {"lr": 0.1}, "paths": {"runs_dir": "a"}, "trainer": {"devices": 1, "threads": 1},
            "logger": {"csv": True}, "data": {"root": "x", "batch_size": 8}}
    moved = {**base, "paths": {"runs_dir": "b"}, "trainer": {"devices": 2, "threads": 1}, "logger": {"csv": False},
             "data": {"root": "y", "batch_size": 8}}
    assert runs.differing_keys(base, moved) == []
    other = {**base, "trainer": {"devices": 1, "threads": 2}, "data": {"root": "x", "batch_size": 16}}
    assert runs.differing_keys(base, other) == ["data.batch_size", "trainer.threads"]
    # a run saved before a key existed is the run that key's neutral value trains
    earlier = {"seed": 0, "optim": {"name": "adam"}, "trainer": {"precision": "32"}, "activation": {"name": "pau"}}
    now = {"seed": 0, "optim": {"_target_": "pau.repro.training.optim.adam", "name": "adam"},
           "trainer": {"precision": "32", "threads": None}, "activation": {"name": "pau", "groups": 1}}
    assert runs.differing_keys(earlier, now) == []
    assert runs.differing_keys(earlier, {**now, "trainer": {"precision": "32", "threads": 1}}) == ["trainer.threads"]
    # ... and the runs table gives both one configuration hash; another value, another hash
    from pau.repro.analysis.collect import config_hash

    with_init = {**now, "model": {"name": "vgg8_mnist", "weight_init": "pytorch"}}
    assert config_hash({**earlier, "model": {"name": "vgg8_mnist"}}) == config_hash(with_init)
    assert config_hash(with_init) != config_hash({**now, "model": {"name": "vgg8_mnist", "weight_init": "kaiming"}})
    assert config_hash(earlier) != config_hash({**now, "trainer": {"precision": "32", "threads": 1}})


# -- sweeps ----------------------------------------------------------------------------------
def test_a_sweep_over_any_keys_gets_a_folder_per_job_and_a_rerun_trains_nothing(tmp_path, pau_cli):
    args = ["-m", *DIGITS, *QUIET, "activation=rpau", "activation.alpha=0.01,0.1", "optim.lr=0.001,0.01",
            f"paths.runs_dir={tmp_path}"]
    proc = pau_cli("pau-train", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = finals(tmp_path)
    common = "data.test_subset=64,data.train_subset=128"
    assert sorted(done) == sorted(
        f"digits/lenet/rpau/activation.alpha={a},{common},optim.lr={lr},trainer.max_epochs=1/seed0"
        for a in ("0.01", "0.1") for lr in ("0.001", "0.01"))
    assert all(f["status"] == "finished" for f in done.values())
    for name in done:  # each folder holds its own job's configuration
        folder = tmp_path / name
        cfg, info = runs.read_config(folder), yaml.safe_load((folder / runs.RUN_INFO).read_text())
        assert f"activation.alpha={cfg['activation']['alpha']}," in name and f"optim.lr={cfg['optim']['lr']}," in name
        assert info["overrides"]["optim.lr"] == str(cfg["optim"]["lr"]) and info["cpu_threads"] == 1
        assert yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())["optim"]["lr"] == cfg["optim"]["lr"]
        log = (folder / runs.LOG).read_text()
        assert "epoch 1/1: train_loss" in log and "test_acc" in log
    before = {name: snapshot(tmp_path / name) for name in done}
    again = pau_cli("pau-train", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count('"skipped": true') == 4 and '"skipped": false' not in again.stdout
    assert {name: snapshot(tmp_path / name) for name in done} == before  # not a file touched


def test_hydra_run_dir_holds_every_output_of_the_run(tmp_path, pau_cli):
    out = tmp_path / "here"
    proc = pau_cli("pau-train", *DIGITS, *QUIET, "activation=relu", f"hydra.run.dir={out}",
                   f"paths.runs_dir={tmp_path / 'runs'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / runs.FINAL).read_text())["status"] == "finished"
    assert (out / runs.LAST_CKPT).is_file() and (out / runs.METRICS).is_file() and (out / ".hydra").is_dir()
    assert runs.read_config(out)["paths"]["run_dir"] == str(out)
    assert not (tmp_path / "runs").exists()


def test_hydra_sweep_dir_holds_the_sweeps_runs(tmp_path, pau_cli):
    proc = pau_cli("pau-train", "-m", *DIGITS, *QUIET, "activation=relu", "seed=0,1",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", f"paths.runs_dir={tmp_path / 'runs'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    changed = "data.test_subset=64,data.train_subset=128,trainer.max_epochs=1"
    assert sorted(finals(tmp_path / "sweep")) == [f"digits/lenet/relu/{changed}/seed{s}" for s in (0, 1)]
    assert not (tmp_path / "runs").exists()


def test_a_folder_of_another_configuration_is_never_written(tmp_path, pau_cli):
    folder = tmp_path / "run"
    assert pau_cli("pau-train", *DIGITS, *QUIET, "activation=relu", f"hydra.run.dir={folder}").returncode == 0
    before = snapshot(folder)
    proc = pau_cli("pau-train", *DIGITS, *QUIET, "activation=relu", "optim.lr=0.01", f"hydra.run.dir={folder}")
    line = one_line_error(proc, "pau-train")
    assert "different configuration (optim.lr: 0.002 -> 0.01)" in line and "paths.runs_dir" in proc.stderr
    assert snapshot(folder) == before  # .hydra/ and pau-train.log included


class ProgressBarMetrics(L.Callback):
    def __init__(self):
        self.seen = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.seen.append(dict(trainer.progress_bar_metrics))


def test_the_progress_shows_the_epochs_train_loss_and_last_test_accuracy(tmp_path, train_config):
    bar = ProgressBarMetrics()
    result = run(train_config(*DIGITS, "activation=relu", "trainer.max_epochs=2", f"paths.runs_dir={tmp_path}"),
                 callbacks=[bar])
    rows = (Path(result["run_dir"]) / runs.METRICS).read_text().splitlines()[1:]
    shown = bar.seen[-1]
    assert shown["train_loss"] == pytest.approx(float(rows[-1].split(",")[1]))
    assert shown["test_acc"] == pytest.approx(float(rows[-1].split(",")[4]))
    log = (Path(result["run_dir"]) / runs.LOG).read_text()
    assert "epoch 1/2: train_loss" in log and "epoch 2/2: train_loss" in log and "finished: test_acc" in log


# -- failures --------------------------------------------------------------------------------
def test_a_failed_start_is_replaced_by_the_corrected_command(tmp_path, train_config, caplog, crash_at_epoch):
    folder = tmp_path / "run"
    bad = train_config(*DIGITS, "activation=relu", "optim.lr=0.5", f"paths.run_dir={folder}")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(bad, callbacks=[crash_at_epoch(0)])
    assert runs.status(folder) == runs.FAILED_BEFORE_CHECKPOINT
    good = train_config(*DIGITS, "activation=relu", "optim.lr=0.002", f"paths.run_dir={folder}")
    with caplog.at_level("WARNING", logger="pau.repro.training"):
        result = run(good)
    assert result["skipped"] is False and result["status"] == "finished"
    assert "stopped before its first checkpoint" in caplog.text and str(folder) in caplog.text
    assert runs.read_config(folder)["optim"]["lr"] == 0.002 and not (folder / runs.ERROR).exists()
    assert runs.status(folder) == runs.FINISHED
    # a run with a checkpoint is another matter: it is never replaced
    with pytest.raises(RunConflictError, match=r"optim.lr: 0.002 -> 0.5"):
        run(bad)


def test_a_python_model_and_a_config_model_share_a_runs_folder(tmp_path, train_config):
    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 64), nn.ReLU(), nn.Linear(64, 10))

        def forward(self, x):
            return self.net(x)

    cfg = train_config(*DIGITS, "activation=relu", f"paths.runs_dir={tmp_path}")
    custom = run(cfg, model=Wide())
    wide_params = sum(p.numel() for p in Wide().parameters())
    assert custom["run_dir"] == str(tmp_path / "digits/python-Wide/relu/data.test_subset=64,data.train_subset=128,"
                                                "trainer.max_epochs=1/seed0")
    saved = runs.read_config(custom["run_dir"])
    assert saved["model"]["name"] == "python-Wide" and saved["model"]["num_parameters"] == wide_params
    info = yaml.safe_load((Path(custom["run_dir"]) / runs.RUN_INFO).read_text())
    assert info["model"]["class"].endswith("Wide") and info["model"]["num_parameters"] == wide_params
    lenet = run(train_config(*DIGITS, "activation=relu", f"paths.runs_dir={tmp_path}"))
    assert lenet["skipped"] is False and "/lenet/" in lenet["run_dir"]
    assert lenet["num_parameters"] == 61_706 != wide_params
    # the same network again is recognised; another one in the custom network's folder is not
    assert run(cfg, model=Wide())["skipped"] is True
    with pytest.raises(RunConflictError, match="model"):
        run(train_config(*DIGITS, "activation=relu", f"paths.run_dir='{custom['run_dir']}'"))


def test_a_damaged_checkpoint_is_named_with_what_to_do(tmp_path, train_config, crash_at_epoch):
    cfg = train_config(*DIGITS, "activation=relu", "trainer.max_epochs=2", f"paths.runs_dir={tmp_path}")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(cfg, callbacks=[crash_at_epoch(1)])
    assert runs.status(cfg.paths.run_dir) == runs.INTERRUPTED
    ckpt = Path(cfg.paths.run_dir) / runs.LAST_CKPT
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(UserError, match="damaged") as err:
        run(cfg)
    assert str(ckpt) in str(err.value) and f"rm {ckpt}" in err.value.hint


# -- the lock --------------------------------------------------------------------------------
def test_two_identical_commands_at_once_train_once(tmp_path):
    args = [str(BIN / "pau-train"), *DIGITS, *QUIET, "activation=pau", "trainer.max_epochs=2",
            f"paths.runs_dir={tmp_path}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    stdout = "".join(out for out, _ in outs)
    assert stdout.count('"skipped": false') == 1 and stdout.count('"skipped": true') == 1
    (folder,) = [tmp_path / name for name in finals(tmp_path)]
    assert len(list((folder / runs.LOGS).iterdir())) == 1  # one training attempt
    assert not (folder / runs.HOLDER).exists()


def test_a_busy_run_waits_or_names_its_holder_and_a_stale_lock_is_taken(tmp_path, pau_cli):
    folder = tmp_path / "run"
    folder.mkdir()
    assert runs.status(folder) == runs.NEW
    released = threading.Event()
    held = threading.Event()

    def hold():
        with runs.locked(folder):
            held.set()
            released.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        assert runs.holder(folder)["pid"] == os.getpid() and runs.status(folder) == runs.RUNNING
        proc = pau_cli("pau-train", *DIGITS, *QUIET, "activation=relu", f"hydra.run.dir={folder}",
                       "paths.lock_timeout=0")
        line = one_line_error(proc, "pau-train")
        assert f"process {os.getpid()}" in line and str(folder) in line
        with pytest.raises(runs.RunBusyError, match="still running after 0.2 s"):
            with runs.locked(folder, timeout=0.2, say=lambda _: None):
                pass
    finally:
        released.set()
        holder.join()
    # a holder that died leaves its note behind, but not its lock
    (folder / runs.HOLDER).write_text(json.dumps({"pid": 999_999_999, "host": "gone"}))
    assert runs.holder(folder) is None
    with runs.locked(folder, timeout=0):
        assert runs.holder(folder)["pid"] == os.getpid()  # taken over at once
    assert runs.holder(folder) is None and not (folder / runs.HOLDER).exists()


# -- determinism --------------------------------------------------------------------------------
def test_a_cpu_run_repeats_exactly_whatever_the_machines_thread_count(tmp_path, pau_cli):
    args = ["data=digits", "model=lenet", "activation=relu", "seed=1", "trainer.max_epochs=2", *QUIET]
    results = []
    for threads in ("1", "2"):
        proc = pau_cli("pau-train", *args, f"paths.runs_dir={tmp_path / threads}",
                       env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
        assert proc.returncode == 0, proc.stderr[-3000:]
        folder = tmp_path / threads / "digits/lenet/relu/trainer.max_epochs=2/seed1"
        results.append((json.loads((folder / runs.FINAL).read_text()), (folder / runs.METRICS).read_text()))
        assert yaml.safe_load((folder / runs.RUN_INFO).read_text())["cpu_threads"] == 1
    (a, rows_a), (b, rows_b) = results
    assert (a["test_acc"], a["train_loss"]) == (b["test_acc"], b["train_loss"])
    strip = lambda text: [line.rsplit(",", 1)[0] for line in text.splitlines()]  # noqa: E731  (epoch_seconds)
    assert strip(rows_a) == strip(rows_b)


# -- one-line errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("override, key", [("seed=-1", "seed"), ("data.batch_size=0", "data.batch_size"),
                                           ("optim.lrr=0.1", "optim has no key 'lrr'; its keys: act_lr")])
def test_invalid_values_are_refused_before_anything_is_written(tmp_path, pau_cli, override, key):
    proc = pau_cli("pau-train", "data=digits", override, *QUIET, f"paths.runs_dir={tmp_path / 'runs'}")
    assert key in one_line_error(proc, "pau-train")
    assert not (tmp_path / "runs").exists()


def test_missing_data_is_one_line_and_leaves_no_folder(tmp_path, pau_cli):
    proc = pau_cli("pau-train", "data=mnist", f"data.root={tmp_path / 'nothing'}", *QUIET,
                   f"paths.runs_dir={tmp_path / 'runs'}")
    assert "MNIST" in one_line_error(proc, "pau-train")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.*"))


def test_an_unwritable_runs_folder_is_one_line(tmp_path, pau_cli):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = pau_cli("pau-train", *DIGITS, *QUIET, f"paths.runs_dir={blocker / 'runs'}")
    assert "cannot write the run folder" in one_line_error(proc, "pau-train")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_runs_folder_is_one_line(tmp_path, pau_cli):
    (tmp_path / "runs").mkdir(mode=0o555)
    proc = pau_cli("pau-train", *DIGITS, *QUIET, f"paths.runs_dir={tmp_path / 'runs'}")
    assert "read-only" in one_line_error(proc, "pau-train")


def test_a_finished_run_is_only_read_when_run_again(tmp_path, pau_cli):
    args = [*DIGITS, *QUIET, "activation=relu", f"paths.runs_dir={tmp_path}"]
    assert pau_cli("pau-train", *args).returncode == 0
    (name,) = finals(tmp_path)
    before = snapshot(tmp_path / name)
    os.chmod(tmp_path / name, 0o555)
    try:
        again = pau_cli("pau-train", *args)
    finally:
        os.chmod(tmp_path / name, 0o755)
    assert again.returncode == 0, again.stderr[-2000:]
    assert '"skipped": true' in again.stdout and snapshot(tmp_path / name) == before


def test_pau_eval_names_a_damaged_or_missing_checkpoint(tmp_path, pau_cli):
    broken = tmp_path / "last.ckpt"
    broken.write_bytes(b"PK\x03\x04 truncated")
    line = one_line_error(pau_cli("pau-eval", str(broken)), "pau-eval")
    assert str(broken) in line and "damaged" in line
    assert "no checkpoint" in one_line_error(pau_cli("pau-eval", str(tmp_path / "nothing")), "pau-eval")


# -- one multi-GPU node -------------------------------------------------------------------------
def test_a_gpu_node_sweep_runs_jobs_side_by_side_on_distinct_devices(tmp_path, pau_cli):
    # Visible device ids are faked: the jobs train on the CPU, each told its own "GPU".
    proc = pau_cli("pau-train", "-m", *DIGITS, *QUIET, "activation=relu", "seed=0,1",
                   "launcher=gpu_node", "hydra.callbacks.devices.gpus=[6,7]", f"paths.runs_dir={tmp_path / 'runs'}",
                   env={"PAU_DEVICE_LOCKS": str(tmp_path / "locks")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    folders = [tmp_path / "runs" / name for name in finals(tmp_path / "runs")]
    assert len(folders) == 2
    infos = [yaml.safe_load((f / runs.RUN_INFO).read_text()) for f in folders]
    # two worker processes of one pool, alive together, one device each
    assert {i["cuda_visible_devices"] for i in infos} == {"6", "7"} and len({i["pid"] for i in infos}) == 2
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == ["gpu6.lock", "gpu7.lock"]
