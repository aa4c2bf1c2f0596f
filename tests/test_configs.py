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


def make(overrides=(), hydra_node=False):
    return compose("train", overrides=list(overrides), return_hydra_config=hydra_node)


def grid(experiment: str) -> dict:
    """The sweeper's grid of ``experiment``: {key: comma-separated values}."""
    return dict(make([f"experiment={experiment}"], hydra_node=True).hydra.sweeper.params)


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
    unit = instantiate(cfg.activation)(num_channels=4)  # the group's target is a factory, one unit per call
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
    # all three decays of A.4.1 act within the run: the last epochs train at 0.1 * 0.1**3
    schedule = instantiate(inet.schedule)
    assert inet.trainer.max_epochs == 100
    assert [schedule.factor(e) for e in (29, 30, 60, 90, inet.trainer.max_epochs - 1)] == pytest.approx(
        [1.0, 0.1, 0.01, 0.001, 0.001])
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
    assert make().logger.wandb is None and make().logger.csv._target_.endswith("CSVLogger")
    wb = make(["logger=wandb"]).logger.wandb
    assert (wb._target_, wb.mode) == ("lightning.pytorch.loggers.WandbLogger", "offline")
    assert make(["logger=wandb", "logger.wandb.mode=online"]).logger.wandb.mode == "online"


def test_data_root_comes_from_the_environment(hydra_ctx, monkeypatch):
    monkeypatch.setenv("PAU_DATA_ROOT", "/datasets")
    cfg = make(["data=mnist"])
    assert cfg.data.root == "/datasets"
    assert make(["data=mnist", "data.root=/elsewhere"]).data.root == "/elsewhere"
    assert "${" not in OmegaConf.to_yaml(cfg, resolve=True)


# -- config groups ----------------------------------------------------------------------------
def test_an_unknown_key_in_a_group_names_the_valid_ones():
    from pau.repro.errors import UserError
    from pau.repro.pruning.config import PruneConfig
    from pau.repro.training.cli import check_group_keys
    from pau.repro.training.config import TrainConfig

    with pytest.raises(UserError, match=r"optim has no key 'lrr'; its keys: act_lr, .*\blr\b.*weight_decay"):
        check_group_keys(["optim.lrr=0.1"], TrainConfig)
    with pytest.raises(UserError, match=r"activation 'rpau' has no key 'alhpa'; its keys: alpha, form, groups"):
        check_group_keys(["activation=rpau", "activation.alhpa=0.1"], TrainConfig)
    with pytest.raises(UserError, match=r"pruning.timing has no key 'repaets'; its keys: .*repeats"):
        check_group_keys(["pruning.timing.repaets=1"], PruneConfig)
    check_group_keys(["optim.lr=0.1", "activation=rpau", "activation.alpha=0.1", "+extra=1", "hydra.verbose=true",
                      "data.mean=[0.5]", "logger.wandb.mode=online"], TrainConfig)  # all known


def test_a_data_option_the_data_set_does_not_take_is_refused(hydra_ctx):
    from pau.repro.errors import UserError

    with pytest.raises(UserError, match=r"'mnist' takes no data.noise; its options: .*batch_size"):
        build_datamodule(make(["data=mnist", "data.noise=2.0"]))
    assert build_datamodule(make(["data=synthetic", "data.noise=2.0"])).noise == 2.0


def test_pau_groups_is_a_key_of_its_own(hydra_ctx):
    from pau import PAU, RPAU

    for act, cls in (("pau", PAU), ("rpau", RPAU)):
        net = build_model(make([f"activation={act}", "activation.groups=2", "data=digits"]))
        units = [m for m in net.modules() if isinstance(m, cls)]
        assert len(units) == 4 and {u.groups for u in units} == {2}


def test_train_and_prune_share_hydras_settings(hydra_ctx):
    train = compose("train", return_hydra_config=True).hydra
    prune = compose("prune", return_hydra_config=True).hydra
    as_written = lambda node, key: OmegaConf.to_container(node, resolve=False)[key]  # noqa: E731
    for key in ("run", "sweep", "output_subdir", "callbacks", "job_logging"):
        assert as_written(train, key) == as_written(prune, key), key
    assert as_written(train, "run") == {"dir": "${paths.run_dir}"}
    assert train.output_subdir is None and train.job.chdir is False
    assert (train.job.name, prune.job.name) == ("pau-train", "pau-prune")


def test_a_prune_experiment_sets_the_seed_and_pruning(tmp_path):
    from pau.repro.pruning.config import register_configs as register_prune_configs

    conf = tmp_path / "conf"
    for path in CONF_DIR.rglob("*.yaml"):
        (conf / path.relative_to(CONF_DIR)).parent.mkdir(parents=True, exist_ok=True)
        (conf / path.relative_to(CONF_DIR)).write_text(path.read_text())
    (conf / "experiment" / "mine.yaml").write_text(
        "# @package _global_\nseed: 7\npruning:\n  levels: [50]\n  reset: random\n")
    register_prune_configs()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("prune", overrides=["experiment=mine"])
    assert (cfg.seed, list(cfg.pruning.levels), cfg.pruning.reset) == (7, [50.0], "random")
    assert cfg.paths.run_dir == "runs/prune/mnist/lenet/pau/seed7"


def test_each_group_is_built_by_its_target(hydra_ctx, tmp_path):
    from lightning import Trainer

    from pau.repro.errors import UserError
    from pau.repro.training import build_trainer
    from pau.repro.training.build import build
    from pau.repro.training.optim import Exponential, MultiStep

    cfg = make(["data=cifar10", "model=lenet", "activation=pau"])
    net = build_model(cfg)
    sgd = build(cfg.optim, net)
    assert type(sgd) is torch.optim.SGD and sgd.defaults["momentum"] == 0.9
    assert type(build(make(["optim=adam"]).optim, net)) is torch.optim.Adam
    assert isinstance(build(cfg.schedule), Exponential) and build(cfg.schedule).factor(2) == pytest.approx(0.985**2)
    assert isinstance(build(make(["experiment=imagenet"]).schedule), MultiStep)
    trainer = build_trainer(OmegaConf.to_container(cfg, resolve=True), tmp_path)
    assert cfg.trainer._target_ == "lightning.Trainer" and isinstance(trainer, Trainer)
    torch.use_deterministic_algorithms(False)  # trainer=cpu switched them on for the process
    with pytest.raises(UserError, match="optim.betas are Adam's"):
        build(make(["data=cifar10", "optim.betas=[0.8,0.9]"]).optim, net)
    with pytest.raises(UserError, match="optim.momentum and optim.nesterov are SGD's"):
        build(make(["optim=adam", "optim.momentum=0.9"]).optim, net)
    with pytest.raises(UserError, match="schedule.gamma and schedule.milestones do nothing"):
        build(make(["schedule=constant", "schedule.gamma=0.5"]).schedule)


# -- the authors' script as a variant of Table 2 -----------------------------------------------
def test_table2_authors_holds_the_authors_script_settings(hydra_ctx):
    from pau import PAU, RPAU

    for data, drop_last in (("mnist", True), ("fashion_mnist", False)):  # the script drops the last batch of MNIST only
        cfg = make(["experiment=table2_authors", f"data={data}", "model=vgg8_mnist", "activation=pau"])
        assert (cfg.data.batch_size, cfg.data.random_rotation, cfg.data.drop_last) == (64, 30.0, drop_last)
        assert (list(cfg.data.mean), list(cfg.data.std)) == ([0.1307], [0.3081])  # MNIST's, for both
        assert (cfg.trainer.gradient_clip_val, cfg.trainer.gradient_clip_algorithm) == (5.0, "norm")
        assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay) == ("adam", 0.01, 0.0)
        assert cfg.trainer.max_epochs == 100
        assert cfg.activation.init == "pade_optimized_leakyrelu"
        assert cfg.paths.run_dir == f"runs/table2_authors-100ep/{data}/vgg8_mnist/pau/seed0"
        dm = build_datamodule(cfg)
        assert (dm.batch_size, dm.random_rotation, dm.drop_last, dm.mean, dm.std) == (
            64, 30.0, drop_last, [0.1307], [0.3081])
    released = PAU(init="pade_optimized_leakyrelu")
    for act, cls in (("pau", PAU), ("rpau", RPAU)):
        units = [m for m in build_model(make(["experiment=table2_authors", f"activation={act}"])).modules()
                 if isinstance(m, cls)]
        assert len(units) == 4 and all(torch.equal(u.numerator, released.numerator) for u in units)
        assert all(torch.equal(u.denominator, released.denominator) for u in units)
    assert "init" not in make(["experiment=table2_authors", "activation=relu"]).activation
    sgd = make(["experiment=table2_authors", "optim=sgd"])
    assert (sgd.optim.name, sgd.optim.lr, sgd.optim.momentum) == ("sgd", 0.01, 0.5)  # the script's --optimizer sgd
    # the script trains both networks alike, so its grid sweeps the network, not the setup
    expected = {**grid("table2"), "model": "lenet,vgg8_mnist"}
    del expected["setup"]
    assert grid("table2_authors") == expected


def test_table2_trains_vgg8_with_sgd_and_torchvisions_initialisation(hydra_ctx):
    assert grid("table2")["setup"] == "lenet,vgg8_sgd" and "model" not in grid("table2")
    assert grid("table2_adam")["setup"] == "lenet,vgg8_adam"
    assert {k: v for k, v in grid("table2_adam").items() if k != "setup"} == {
        k: v for k, v in grid("table2").items() if k != "setup"}
    for data in ("mnist", "fashion_mnist"):
        vgg = make(["experiment=table2", "setup=vgg8_sgd", f"data={data}", "activation=relu"], hydra_node=True)
        assert (vgg.model.name, vgg.model.weight_init, vgg.data.batch_size) == ("vgg8_mnist", "kaiming", 256)
        assert (vgg.optim.name, vgg.optim.lr, vgg.optim.momentum, vgg.optim.weight_decay) == ("sgd", 0.01, 0.5, 0.0)
        assert vgg.paths.run_dir == f"runs/table2-100ep/{data}/vgg8_mnist/relu/seed0"  # the setup names no level
        adam = make(["experiment=table2_adam", "setup=vgg8_adam", f"data={data}"], hydra_node=True)
        assert (adam.model.name, adam.model.weight_init, adam.optim.name, adam.optim.lr) == (
            "vgg8_mnist", "pytorch", "adam", 0.002)
        assert adam.paths.run_dir == f"runs/table2_adam-100ep/{data}/vgg8_mnist/pau/seed0"
        lenet = make(["experiment=table2", "setup=lenet", f"data={data}"])
        assert (lenet.model.name, lenet.model.weight_init, lenet.optim.name, lenet.optim.lr) == (
            "lenet", "pytorch", "adam", 0.002)
    # the network is built with the initialisation the setup names
    torch.manual_seed(0)
    net = build_model(make(["experiment=table2", "setup=vgg8_sgd"]))
    assert torch.count_nonzero(net.features[0].bias) == 0 and net.classifier[-1].weight.std() < 0.02


def test_table2_keeps_the_papers_text(hydra_ctx):
    for data, mean in (("mnist", 0.1307), ("fashion_mnist", 0.2860)):
        cfg = make(["experiment=table2", "setup=lenet", f"data={data}", "activation=pau"])
        assert (cfg.data.batch_size, cfg.data.random_rotation, cfg.data.drop_last, list(cfg.data.mean)) == (
            256, 0.0, False, [mean])
        assert (cfg.trainer.gradient_clip_val, cfg.optim.lr, cfg.activation.init) == (None, 0.002, "leaky_relu")


def test_the_recipe_names_no_folder_level(hydra_ctx):
    cfg = make(["recipe=authors", "data=fashion_mnist", "activation=rpau"], hydra_node=True)
    assert cfg.paths.run_dir == "runs/fashion_mnist/lenet/rpau/seed0"
    assert (cfg.data.random_rotation, cfg.activation.init) == (30.0, "pade_optimized_leakyrelu")


def test_every_experiment_the_docs_and_scripts_name_exists():
    import re

    root = CONF_DIR.parent
    texts = [root / "README.md", *sorted((root / "experiments").glob("*.md")), *sorted((root / "scripts").glob("*.sh")),
             *sorted((root / "conf").rglob("*.yaml")), root / "Makefile"]
    named = {m for path in texts for m in re.findall(r"experiment=(\w+)", path.read_text())}
    known = {p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")}
    named -= {"mine"}  # the README's example of a user's own experiment, under --config-dir
    assert named and named <= known, sorted(named - known)


def test_the_cpu_budgets_of_table2(hydra_ctx):
    vgg = make(["experiment=table2_cpu", "setup=vgg8_sgd", "activation=pau"], hydra_node=True)
    assert (vgg.model.name, vgg.optim.name, vgg.optim.lr, vgg.model.weight_init) == ("vgg8_mnist", "sgd", 0.01, "kaiming")
    assert (vgg.data.train_subset, vgg.trainer.max_epochs, vgg.data.batch_size, vgg.trainer.threads) == (20480, 3, 256, 1)
    assert vgg.paths.run_dir == "runs/table2_cpu/mnist/vgg8_mnist/pau/seed0"
    assert grid("table2_cpu")["setup"] == "vgg8_sgd" and grid("table2_cpu")["seed"] == "0,1"
    lenet = make(["experiment=table2_cpu_lenet", "setup=lenet", "activation=pau"], hydra_node=True)
    assert (lenet.model.name, lenet.optim.name, lenet.optim.lr, lenet.data.train_subset, lenet.trainer.max_epochs) == (
        "lenet", "adam", 0.002, None, 4)
    assert lenet.paths.run_dir == "runs/table2_cpu/mnist/lenet/pau/seed0"
    authors = make(["experiment=table2_authors_cpu", "model=lenet", "activation=pau"], hydra_node=True)
    assert (authors.data.batch_size, authors.optim.lr, authors.trainer.gradient_clip_val, authors.trainer.max_epochs) == (
        64, 0.01, 5.0, 4)
    assert authors.paths.run_dir == "runs/table2_authors_cpu/mnist/lenet/pau/seed0"
    for name in ("table2_cpu_lenet", "table2_authors_cpu"):
        assert grid(name)["activation"] == grid("table2")["activation"] and grid(name)["seed"] == "0,1,2"


@pytest.mark.parametrize("group", ["data", "model", "activation", "experiment", "setup", "recipe", "trainer", "logger",
                                   "launcher"])
def test_the_readme_lists_every_option_of_a_group(group):
    """The README's table of config groups names every option in conf/<group>/ (prune_*
    experiments as one entry)."""
    import re

    readme = (CONF_DIR.parent / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith(f"| `{group}` |")]
    options = {p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("prune_")}
    listed = set(re.findall(r"[\w]+", row.split("|")[2]))
    assert options and options <= listed, sorted(options - listed)
