"""The Hydra configuration: composition, the paper's schedules, the schema's errors."""
from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from pau.activations import get_act_layer, list_activations
from pau.repro.data import list_datasets
from pau.models import input_size, list_models
from pau.repro.training import build_datamodule, build_model, register_configs
from pau.repro.training.cli import CONF_DIR

# Every activation is built into these in the default suite, into all in the slow one;
# test_training's short runs build every model with relu, pau and maxout.
QUICK_MODELS = ["lenet", "mobilenetv2_cifar", "mobilenetv2_imagenet"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.fixture
def hydra_ctx():
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield


def make(overrides=(), hydra_node=False):
    return compose("train", overrides=list(overrides), return_hydra_config=hydra_node)


def synthetic_for(model: str) -> list[str]:
    """Overrides shaping the synthetic data set like the network's inputs (at most 32x32)."""
    c, h, _ = input_size(model)
    return ["data=synthetic", f"data.in_channels={c}", f"data.image_size={min(h, 32)}",
            f"data.mean=[{','.join(['0'] * c)}]", f"data.std=[{','.join(['1'] * c)}]"]


def test_groups_hold_every_registered_name():
    assert options("data") == sorted(list_datasets())
    assert options("model") == sorted(list_models())
    assert options("activation") == sorted(list_activations())
    assert {"cpu", "gpu", "ddp", "ddp_cpu"} <= set(options("trainer"))
    assert {"csv", "wandb"} <= set(options("logger"))
    assert {"local", "joblib", "submitit_slurm"} <= set(options("launcher"))
    assert {"mnist_adam", "mnist_sgd", "fashion_mnist_adam", "fashion_mnist_sgd", "cifar10", "imagenet"} <= set(
        options("experiment"))
    # every data set brings its own optimiser and schedule defaults
    assert set(list_datasets()) <= set(options("optim")) & set(options("schedule"))


def _compose_all(activations) -> None:
    for data in list_datasets():
        for model in list_models():
            for act in activations:
                cfg = make([f"data={data}", f"model={model}", f"activation={act}"])
                assert (cfg.data.name, cfg.model.name, cfg.activation.name) == (data, model, act)
                assert cfg.paths.run_dir == f"runs/{data}/{model}/{act}/seed0"
                assert isinstance(cfg.trainer.max_epochs, int) and cfg.trainer.max_epochs > 0


def test_every_data_model_composes(hydra_ctx):
    # Only the data set steers other groups (optim, schedule), so composing each
    # data x model pair and each activation (test_activation_configs_instantiate_units)
    # covers every triple; the full product runs in the slow suite.
    _compose_all(["pau"])


@pytest.mark.slow
def test_every_data_model_activation_composes(hydra_ctx):
    _compose_all(list_activations())


@pytest.mark.parametrize("data", list_datasets())
def test_every_data_config_instantiates(hydra_ctx, data):
    dm = build_datamodule(make([f"data={data}", "data.root=/nonexistent"]))
    assert dm.name == data
    assert dm.batch_size == make([f"data={data}"]).data.batch_size


def _check_model(model: str, act: str) -> None:
    cfg = make([f"model={model}", f"activation={act}", *synthetic_for(model)])
    net = build_model(cfg)
    assert any(isinstance(m, get_act_layer(act)) for m in net.modules())
    if model == "lenet":  # a forward pass on the synthetic data's shape
        x = torch.randn(2, cfg.data.in_channels, cfg.data.image_size, cfg.data.image_size)
        net.eval()
        with torch.no_grad():
            assert net(x).shape == (2, cfg.data.num_classes)


@pytest.mark.parametrize("model", QUICK_MODELS)
def test_every_activation_instantiates_in_models(hydra_ctx, model):
    for act in list_activations():
        _check_model(model, act)


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(set(list_models()) - set(QUICK_MODELS)))
def test_every_activation_instantiates_in_every_model(hydra_ctx, model):
    for act in list_activations():
        _check_model(model, act)


@pytest.mark.parametrize("act", list_activations())
def test_activation_configs_instantiate_units(hydra_ctx, act):
    cfg = make([f"activation={act}"])
    unit = instantiate(cfg.activation, num_channels=4)
    assert isinstance(unit, get_act_layer(act))
    x = torch.randn(3, 8 if act == "maxout" else 4, 5, 5)
    assert unit(x).shape == (3, 4, 5, 5)


def test_paper_schedules_follow_the_data_set(hydra_ctx):
    fm = make(["data=fashion_mnist", "model=lenet", "activation=pau", "seed=3"])
    assert (fm.optim.name, fm.optim.lr, fm.optim.weight_decay) == ("adam", 0.002, 0.0)
    assert (fm.trainer.max_epochs, fm.data.batch_size, fm.schedule.name) == (100, 256, "constant")
    assert fm.paths.run_dir == "runs/fashion_mnist/lenet/pau/seed3"

    c = make(["data=cifar10", "model=vgg8_cifar"])
    assert (c.optim.name, c.optim.lr, c.optim.momentum, c.optim.weight_decay) == ("sgd", 0.1, 0.9, 5e-4)
    assert (c.optim.act_lr, c.optim.act_weight_decay) == (0.01, 0.0)
    assert (c.schedule.name, c.schedule.gamma, c.schedule.act) == ("exponential", 0.985, "constant")
    assert (c.trainer.max_epochs, c.data.batch_size, c.data.random_crop_padding, c.data.random_hflip) == (
        400, 64, 4, True)

    sgd = make(["experiment=mnist_sgd"])
    assert (sgd.data.name, sgd.optim.name, sgd.optim.lr, sgd.optim.momentum) == ("mnist", "sgd", 0.01, 0.5)
    assert sgd.trainer.max_epochs == 100

    inet = make(["experiment=imagenet"])
    assert (inet.model.name, inet.optim.lr, inet.optim.act_lr, inet.optim.act_weight_decay) == (
        "mobilenetv2_imagenet", 0.1, None, None)
    assert (list(inet.schedule.milestones), inet.schedule.gamma, inet.schedule.act) == ([30, 60, 90], 0.1, "same")
    assert (inet.trainer.strategy, inet.trainer.devices) == ("ddp", 8)

    # a command-line choice wins over the data set's default
    assert make(["data=cifar10", "optim=adam"]).optim.name == "adam"
    assert make(["experiment=cifar10", "model=resnet101_cifar"]).model.name == "resnet101_cifar"


def test_unknown_choice_lists_the_valid_ones(hydra_ctx):
    with pytest.raises(MissingConfigException) as err:
        make(["activation=pade"])
    for name in list_activations():
        assert name in str(err.value)


def test_mistyped_keys_fail(hydra_ctx):
    with pytest.raises(ConfigCompositionException, match="lrr"):
        make(["optim.lrr=0.1"])
    with pytest.raises(ConfigCompositionException):
        make(["trainer.max_epochs=many"])  # typed: an int
    with pytest.raises(ConfigCompositionException, match="alhpa"):
        make(["activation=rpau", "activation.alhpa=0.1"])


def test_schema_rejects_a_mistyped_yaml_key(tmp_path):
    bad = tmp_path / "conf"
    bad.mkdir()
    for path in CONF_DIR.rglob("*.yaml"):
        target = bad / path.relative_to(CONF_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    (bad / "optim" / "adam.yaml").write_text("name: adam\nlearning_rate: 0.1\n")
    register_configs()
    with initialize_config_dir(config_dir=str(bad), version_base="1.3"):
        with pytest.raises((ConfigCompositionException, ConfigKeyError), match="learning_rate"):
            compose("train", overrides=["optim=adam"])


def test_single_and_multirun_jobs_share_the_run_folder(hydra_ctx):
    cfg = make(["data=digits", "activation=rpau", "seed=4", "paths.runs_dir=/r"], hydra_node=True)
    expected = "/r/digits/lenet/rpau/seed4"
    assert cfg.hydra.run.dir == expected == cfg.paths.run_dir
    assert f"{cfg.hydra.sweep.dir}/{cfg.hydra.sweep.subdir}" == expected
    assert cfg.hydra.job.chdir is False


@pytest.mark.parametrize(
    "launcher, target",
    [("local", "BasicLauncher"), ("joblib", "JoblibLauncher"), ("submitit_slurm", "SlurmLauncher")],
)
def test_launchers(hydra_ctx, launcher, target):
    cfg = make([f"launcher={launcher}", "trainer=ddp", "trainer.devices=4"], hydra_node=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    if launcher == "submitit_slurm":
        assert (cfg.hydra.launcher.tasks_per_node, cfg.hydra.launcher.gpus_per_node) == (4, 4)


def test_wandb_is_offline_unless_asked(hydra_ctx):
    assert make().logger.wandb.enabled is False
    wb = make(["logger=wandb"]).logger.wandb
    assert (wb.enabled, wb.mode) == (True, "offline")
    assert make(["logger=wandb", "logger.wandb.mode=online"]).logger.wandb.mode == "online"


def test_data_root_comes_from_the_environment(hydra_ctx, monkeypatch):
    monkeypatch.setenv("PAU_DATA_ROOT", "/datasets")
    cfg = make(["data=mnist"])
    assert cfg.data.root == "/datasets"
    assert make(["data=mnist", "data.root=/elsewhere"]).data.root == "/elsewhere"
    assert "${" not in OmegaConf.to_yaml(cfg, resolve=True)
