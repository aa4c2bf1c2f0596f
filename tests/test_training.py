"""Training runs: optimiser groups, run folders, idempotence, resume, DDP, the CLI."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pau import PAU
from pau.models import input_size, list_models
from pau.repro.training import PAUClassifier, RunConflictError, build_model, register_configs, run
from pau.repro.training.cli import CONF_DIR, eval_main

BIN = Path(sys.executable).parent
QUICK_MODELS = ["lenet", "vgg8_mnist", "vgg8_cifar", "mobilenetv2_cifar", "mobilenetv2_imagenet"]
# The MobileNets downsample 8x / 32x and pool adaptively: 16x16 inputs keep them quick.
SHORT_RUN_SIZE = {"mobilenetv2_cifar": 16, "mobilenetv2_imagenet": 16}
COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "act_lr", "epoch_seconds"]
FINAL_KEYS = {"status", "epochs", "test_acc", "best_test_acc", "train_loss", "seconds", "seconds_per_epoch",
              "num_parameters"}
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def make(*overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*QUIET, *overrides])


def synthetic(model="lenet", n_train=16, n_test=8, batch=4, size=32):
    """Synthetic data shaped for ``model``, images at most ``size`` pixels wide."""
    c, h, _ = input_size(model)
    ones = ",".join(["1"] * c)
    return [f"model={model}", "data=synthetic", f"data.in_channels={c}", f"data.image_size={min(h, size)}",
            f"data.mean=[{ones.replace('1', '0')}]", f"data.std=[{ones}]", f"data.num_train={n_train}",
            f"data.num_test={n_test}", f"data.batch_size={batch}", f"data.eval_batch_size={n_test}"]


def read_metrics(folder: Path) -> list[dict]:
    with (folder / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def pau_coefficients(ckpt: Path) -> dict[str, torch.Tensor]:
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    return {k: v for k, v in state.items() if k.endswith(("numerator", "denominator"))}


# -- optimiser groups and schedules --------------------------------------------------------
def test_cifar_groups_decay_the_network_lr_and_keep_the_pau_lr():
    module = PAUClassifier(make("data=cifar10", "model=lenet", "activation=pau"))
    opt = module.configure_optimizers()
    optimizer, scheduler = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    net, act = optimizer.param_groups
    assert sum(p.numel() for p in act["params"]) == 40  # 4 PAUs x 10 coefficients
    assert all(isinstance(p, torch.nn.Parameter) for p in act["params"])
    assert (net["lr"], net["weight_decay"], act["lr"], act["weight_decay"]) == (0.1, 5e-4, 0.01, 0.0)
    assert (optimizer.defaults["momentum"], type(optimizer)) == (0.9, torch.optim.SGD)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    assert net["lr"] == pytest.approx(0.1 * 0.985**3) and act["lr"] == 0.01


def test_imagenet_uses_one_schedule_for_every_parameter():
    cfg = make("experiment=imagenet", "data.num_classes=10", "activation=pau")
    module = PAUClassifier(cfg)
    opt = module.configure_optimizers()
    optimizer, scheduler = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    net, act = optimizer.param_groups
    assert (net["weight_decay"], act["weight_decay"], act["lr"]) == (1e-4, 1e-4, 0.1)
    lrs = []
    for _ in range(61):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert lrs[29] == [0.1, 0.1] and lrs[30] == pytest.approx([0.01, 0.01]) and lrs[60] == pytest.approx([1e-3] * 2)


def test_learnable_baselines_join_the_activation_group_only_when_asked():
    prelu_weights = lambda m: [p for u in m.model.modules() if isinstance(u, torch.nn.PReLU) for p in u.parameters()]  # noqa: E731
    default = PAUClassifier(make("activation=prelu"))
    assert len(default.parameter_groups()) == 1  # PReLU slopes train with the network
    learnable = PAUClassifier(make("activation=prelu", "optim.act_params=learnable", "optim.act_lr=0.5"))
    net, act = learnable.parameter_groups()
    assert act["lr"] == 0.5 and {id(p) for p in act["params"]} == {id(p) for p in prelu_weights(learnable)}


def test_trainer_settings_come_from_the_config(tmp_path):
    from pau.repro.training import build_trainer

    cfg = OmegaConf.to_container(make("trainer.gradient_clip_val=0.5", "trainer.gradient_clip_algorithm=value",
                                      "trainer.precision=bf16-mixed", "trainer.limit_train_batches=3"), resolve=True)
    trainer = build_trainer(cfg, tmp_path)
    assert (trainer.gradient_clip_val, trainer.gradient_clip_algorithm) == (0.5, "value")
    assert trainer.precision == "bf16-mixed" and trainer.limit_train_batches == 3
    assert trainer.max_epochs == 100 and torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)


# -- short runs -------------------------------------------------------------------------------
def _short_run(tmp_path, model, act):
    cfg = make(*synthetic(model, n_train=4, n_test=4, batch=4, size=SHORT_RUN_SIZE.get(model, 32)),
               f"activation={act}", "trainer.max_epochs=1",
               f"paths.runs_dir={tmp_path}")
    result = run(cfg)
    folder = tmp_path / "synthetic" / model / act / "seed0"
    assert result["run_dir"] == str(folder) and result["skipped"] is False
    rows = read_metrics(folder)
    assert list(rows[0]) == COLUMNS and [r["epoch"] for r in rows] == ["1"]
    assert 0.0 <= float(rows[0]["test_acc"]) <= 1.0 and float(rows[0]["train_loss"]) > 0
    final = json.loads((folder / "final_metrics.json").read_text())
    assert set(final) == FINAL_KEYS and final["status"] == "finished" and final["epochs"] == 1
    assert final["num_parameters"] == sum(p.numel() for p in build_model(cfg).parameters())
    assert yaml.safe_load((folder / "config.yaml").read_text()) == OmegaConf.to_container(cfg, resolve=True)
    assert (folder / "checkpoints" / "last.ckpt").is_file() and not (folder / "error.txt").exists()


@pytest.mark.parametrize("act", ["relu", "pau", "maxout"])
@pytest.mark.parametrize("model", QUICK_MODELS)
def test_short_run_writes_metrics_and_final_metrics(tmp_path, model, act):
    _short_run(tmp_path, model, act)


@pytest.mark.slow
@pytest.mark.parametrize("act", ["relu", "pau", "maxout"])
@pytest.mark.parametrize("model", sorted(set(list_models()) - set(QUICK_MODELS)))
def test_short_run_of_large_models(tmp_path, model, act):
    _short_run(tmp_path, model, act)


def test_many_classes_add_top5_accuracy(tmp_path):
    result = run(make(*synthetic(n_train=8, n_test=8, batch=8), "data.num_classes=1000", "activation=relu",
                      "trainer.max_epochs=1", f"paths.runs_dir={tmp_path}"))
    rows = read_metrics(Path(result["run_dir"]))
    assert list(rows[0]) == COLUMNS[:5] + ["test_acc5"] + COLUMNS[5:]
    assert 0.0 <= result["test_acc"] <= result["test_acc5"] <= 1.0


def test_lenet_pau_learns_digits_in_two_epochs(tmp_path):
    result = run(make("data=digits", "model=lenet", "activation=pau", "trainer.max_epochs=2",
                      f"paths.runs_dir={tmp_path}"))
    assert result["epochs"] == 2 and result["test_acc"] > 0.6  # chance is 0.1


# -- idempotence and resume -----------------------------------------------------------------
def test_a_finished_run_is_skipped_and_a_different_one_refused(tmp_path):
    overrides = [*synthetic(), "activation=relu", "trainer.max_epochs=1", f"paths.runs_dir={tmp_path}"]
    first = run(make(*overrides))
    ckpt = Path(first["run_dir"]) / "checkpoints" / "last.ckpt"
    stamp = ckpt.stat().st_mtime_ns
    again = run(make(*overrides, "trainer.enable_progress_bar=true", "logger.csv=null"))  # not result keys
    assert again["skipped"] is True and again["test_acc"] == first["test_acc"]
    assert ckpt.stat().st_mtime_ns == stamp
    with pytest.raises(RunConflictError) as err:
        run(make(*overrides, "optim.lr=0.1"))
    assert "optim.lr" in str(err.value) and "paths.runs_dir" in err.value.hint
    assert run(make(*overrides, "optim.lr=0.1", f"paths.runs_dir={tmp_path / 'other'}"))["skipped"] is False


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, crash_at_epoch):
    # RPAU noise and random crops/flips draw random numbers: resuming must repeat them.
    overrides = [*synthetic(n_train=24, n_test=8, batch=8), "activation=rpau", "activation.alpha=0.1",
                 "data.random_crop_padding=2", "data.random_hflip=true", "trainer.max_epochs=3"]
    whole = run(make(*overrides, f"paths.runs_dir={tmp_path / 'whole'}"))

    cfg = make(*overrides, f"paths.runs_dir={tmp_path / 'split'}")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(cfg, callbacks=[crash_at_epoch(1)])
    folder = Path(cfg.paths.run_dir)
    assert "simulated crash" in (folder / "error.txt").read_text()
    assert len(read_metrics(folder)) == 1 and not (folder / "final_metrics.json").exists()
    resumed = run(cfg)
    assert resumed["epochs"] == 3 and not (folder / "error.txt").exists()

    drop = lambda rows: [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in rows]  # noqa: E731
    assert drop(read_metrics(folder)) == drop(read_metrics(Path(whole["run_dir"])))
    a = pau_coefficients(folder / "checkpoints" / "last.ckpt")
    b = pau_coefficients(Path(whole["run_dir"]) / "checkpoints" / "last.ckpt")
    assert len(a) == 8 and all(torch.equal(a[k], b[k]) for k in a)


def test_a_resumed_run_continues_its_offline_wandb_run(tmp_path, monkeypatch, crash_at_epoch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make(*synthetic(), "activation=pau", "trainer.max_epochs=2", "logger=wandb", f"paths.runs_dir={tmp_path}")
    folder = Path(cfg.paths.run_dir)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(cfg, callbacks=[crash_at_epoch(1)])
    run_id = (folder / "wandb_id.txt").read_text()
    assert run(cfg)["epochs"] == 2
    assert (folder / "wandb_id.txt").read_text() == run_id
    # offline-run-<time>-<id>: both attempts wrote to the run of that id
    attempts = list((folder / "wandb").glob("offline-run-*"))
    assert attempts and all(p.name.endswith(f"-{run_id}") for p in attempts)


def test_a_run_out_of_time_is_left_unfinished_and_resumes(tmp_path):
    overrides = [*synthetic(), "activation=pau", "trainer.max_epochs=2", f"paths.runs_dir={tmp_path}"]
    result = run(make(*overrides, "trainer.max_time=00:00:00:00"))
    assert (result["status"], result["epochs"]) == ("interrupted", 0)
    assert not (Path(result["run_dir"]) / "final_metrics.json").exists()
    assert run(make(*overrides))["epochs"] == 2  # the time budget is not part of the result


# -- evaluation ------------------------------------------------------------------------------
def test_pau_eval_reproduces_the_final_test_accuracy(tmp_path, capsys):
    result = run(make(*synthetic(), "activation=pau", "trainer.max_epochs=1", f"paths.runs_dir={tmp_path}"))
    out = tmp_path / "eval.json"
    eval_main([result["run_dir"], "--accelerator", "cpu", "--output", str(out)])
    metrics = json.loads(out.read_text())
    assert metrics["test/acc"] == pytest.approx(result["test_acc"])


# -- processes -------------------------------------------------------------------------------
def _pau_train(args, cwd, timeout):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(BIN / "pau-train"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_ddp_cpu_sweep_keeps_pau_coefficients_identical_across_processes(tmp_path):
    # Two DDP jobs in one multirun: each job's second process must run that job alone,
    # in the job's own folder, and the second job must start its own processes.
    args = ["-m", *synthetic(n_train=32, n_test=8, batch=8), *QUIET, "activation=pau", "trainer=ddp_cpu",
            "trainer.max_epochs=1", "seed=0,1", f"paths.runs_dir={tmp_path}"]
    proc = _pau_train(args, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "synthetic" / "lenet" / "pau").iterdir()  # the changed keys' level
    for seed in (0, 1):
        folder = sweep / f"seed{seed}"
        replicas = json.loads((folder / "replicas.json").read_text())
        assert replicas["world_size"] == 2 and replicas["pau_count"] == 40
        assert replicas["pau_max_abs_diff"] == 0.0 and replicas["network_max_abs_diff"] == 0.0
        assert json.loads((folder / "final_metrics.json").read_text())["status"] == "finished"
        trained = pau_coefficients(folder / "checkpoints" / "last.ckpt")
        assert not torch.equal(trained["model.features.1.numerator"].float(), PAU().numerator.float())
    assert sorted(p.name for p in sweep.iterdir()) == ["seed0", "seed1"]  # the second processes wrote no other
    again = _pau_train(args, cwd=tmp_path, timeout=600)  # a re-run sweep skips its finished jobs
    assert again.returncode == 0 and again.stdout.count('"skipped": true') == 2


def test_readme_main_command_trains_digits_offline(tmp_path):
    start = time.monotonic()
    proc = _pau_train(["data=digits", "model=lenet", "activation=pau", "seed=0"], cwd=tmp_path, timeout=600)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = json.loads((tmp_path / "runs" / "digits" / "lenet" / "pau" / "seed0" / "final_metrics.json").read_text())
    assert final["test_acc"] > 0.8
    assert seconds < 180


# -- the authors' script: rotation, drop_last ------------------------------------------------
def test_rotation_turns_each_training_image_by_its_own_angle_and_leaves_test_images():
    from types import SimpleNamespace

    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2.functional import rotate

    from pau.repro.data.transforms import normalize
    from pau.repro.training import build_datamodule

    dm = build_datamodule(make("data=digits", "data.random_rotation=30"))
    dm.setup("fit")
    images, targets = dm.train_set[torch.arange(16)]
    plain = normalize(images.float() / 255.0, dm.mean, dm.std)
    dm.trainer = SimpleNamespace(training=False)
    assert torch.equal(dm.on_after_batch_transfer((images, targets), 0)[0], plain)  # evaluation: unchanged
    dm.trainer = SimpleNamespace(training=True)
    torch.manual_seed(5)
    turned, same_targets = dm.on_after_batch_transfer((images, targets), 0)
    torch.manual_seed(5)
    angles = torch.empty(16).uniform_(-30.0, 30.0).tolist()
    expected = torch.stack([rotate(x, a, interpolation=InterpolationMode.NEAREST, fill=0.0)
                            for x, a in zip(images.float() / 255.0, angles)])
    assert torch.equal(turned, normalize(expected, dm.mean, dm.std)) and torch.equal(same_targets, targets)
    assert len(set(angles)) == 16 and all(-30.0 <= a <= 30.0 for a in angles)
    changed = (turned != plain).flatten(1).any(1)
    assert changed.sum() >= 14  # an angle near 0 may leave a small digit as it was
    assert turned.shape == plain.shape and turned.min() >= plain.min()  # corners filled with the background


def test_a_rotation_outside_0_to_180_degrees_is_one_user_error(tmp_path):
    from pau.repro.errors import UserError

    with pytest.raises(UserError, match=r"data.random_rotation=-5.0 is invalid: degrees from 0 \(off\) to 180"):
        run(make("data=digits", "data.random_rotation=-5", f"paths.runs_dir={tmp_path}"))
    assert not any(tmp_path.iterdir())


def test_drop_last_drops_the_last_partial_training_batch_only():
    from pau.repro.training import build_datamodule

    for drop_last, sizes in ((False, [64] * 22 + [29]), (True, [64] * 22)):  # 1,437 digits = 22 x 64 + 29
        dm = build_datamodule(make("data=digits", f"data.drop_last={str(drop_last).lower()}"))
        dm.setup("fit")
        assert [len(b[1]) for b in dm.train_dataloader()] == sizes
        assert sum(len(b[1]) for b in dm.val_dataloader()) == 360  # every test image, either way


def test_a_rotated_run_under_the_authors_recipe_trains_one_epoch(tmp_path):
    cfg = make(*synthetic(n_train=32, n_test=8, batch=8), "recipe=authors", "data.random_rotation=30",
               "activation=pau", "trainer.max_epochs=1", f"paths.runs_dir={tmp_path}")
    assert (cfg.trainer.gradient_clip_val, cfg.optim.lr, cfg.activation.init) == (5.0, 0.01, "pade_optimized_leakyrelu")
    result = run(cfg)
    folder = Path(result["run_dir"])
    assert result["epochs"] == 1 and float(read_metrics(folder)[0]["train_loss"]) > 0
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert (saved["data"]["random_rotation"], saved["trainer"]["gradient_clip_val"]) == (30.0, 5.0)
