"""Pruning (section 4.4, A.4.3): filter choice, surgery, masks, and pau-prune end to end."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from torch import nn

from pau.repro.analysis import pruning as analysis
from pau.models import create_model
from pau.modules import PAU
from pau.models.resnet import ResNetCIFAR
from pau.activations import as_act_factory
from pau.repro.pruning import (
    analyze,
    apply_plan,
    count_parameters,
    effective_weight,
    inference_ms,
    prune,
    register_configs,
    select_filters,
    stored_parameters,
)
from pau.repro.training import PAUClassifier, build_datamodule
from pau.repro.training.cli import CONF_DIR


def perturbed(model: nn.Module, seed: int = 1) -> nn.Module:
    """A copy with different weights: stands in for the trained network."""
    out = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return out


def kept(plan, name, filters):
    gone = set(plan.get(name, ()))
    return [j for j in range(filters) if j not in gone]


# --------------------------------------------------------------------------- one level, LeNet
def test_lenet_one_level_shrinks_filters_parameters_and_keeps_initial_weights():
    init = create_model("lenet", "relu")
    trained = perturbed(init)
    graph = analyze(init)
    assert graph.structural == ["features.0", "features.3", "features.6"] and graph.masked == []
    plan = select_filters(trained, graph, {}, 50)
    ticket = apply_plan(copy.deepcopy(init), graph, plan)

    convs = [ticket.features[i] for i in (0, 3, 6)]
    assert [c.out_channels for c in convs] == [3, 8, 60]
    assert [c.in_channels for c in convs] == [1, 3, 8]
    assert ticket.classifier[1].in_features == 60
    # by hand: conv 3*1*25+3, 8*3*25+8, 60*8*25+60; fc 84*60+84, 84*10+10
    assert count_parameters(ticket) == stored_parameters(ticket) == 78 + 608 + 12_060 + 5_124 + 850 == 18_720
    assert count_parameters(init) == 61_706
    assert ticket(torch.randn(4, 1, 32, 32)).shape == (4, 10)

    # the survivors hold their initial values, in the network's order
    k0, k1, k2 = (kept(plan, n, f) for n, f in (("features.0", 6), ("features.3", 16), ("features.6", 120)))
    torch.testing.assert_close(convs[0].weight, init.features[0].weight[k0], rtol=0, atol=0)
    torch.testing.assert_close(convs[1].weight, init.features[3].weight[k1][:, k0], rtol=0, atol=0)
    torch.testing.assert_close(convs[2].bias, init.features[6].bias[k2], rtol=0, atol=0)
    torch.testing.assert_close(ticket.classifier[1].weight, init.classifier[1].weight[:, k2], rtol=0, atol=0)
    torch.testing.assert_close(ticket.classifier[3].weight, init.classifier[3].weight, rtol=0, atol=0)
    # ... and the trained network chose them: its highest-sum filters
    sums = trained.features[3].weight.detach().flatten(1).sum(1)
    assert sorted(k1) == sorted(sums.argsort(descending=True)[:8].tolist())


def test_levels_count_from_the_dense_filters_and_build_on_the_last_plan():
    net = create_model("lenet", "relu")
    graph = analyze(net)
    plan = select_filters(net, graph, {}, 30)
    assert {n: len(v) for n, v in plan.items()} == {"features.0": 2, "features.3": 5, "features.6": 36}
    pruned = apply_plan(copy.deepcopy(net), graph, plan)
    plan2 = select_filters(perturbed(pruned), graph, plan, 60)  # weights of the pruned network rank
    assert {n: len(v) for n, v in plan2.items()} == {"features.0": 4, "features.3": 10, "features.6": 72}
    assert all(set(plan[n]) <= set(plan2[n]) for n in plan)  # a pruned filter never comes back
    current = select_filters(pruned, graph, plan, 50, relative_to="current")  # half of those left
    assert {n: len(v) for n, v in current.items()} == {"features.0": 4, "features.3": 11, "features.6": 78}


# --------------------------------------------------------------------------- the criterion
@pytest.fixture
def known_lenet():
    """LeNet whose first convolution's filters are constant: filter j sums to 25 v_j."""
    net = create_model("lenet", "relu")
    values = torch.tensor([5.0, -3.0, 0.5, 2.0, -1.0, 4.0])
    with torch.no_grad():
        net.features[0].weight.copy_(values.view(6, 1, 1, 1).expand(6, 1, 5, 5))
    return net


def test_lowest_sum_filters_are_removed(known_lenet):
    graph = analyze(known_lenet)
    assert select_filters(known_lenet, graph, {}, 50)["features.0"] == [1, 2, 4]  # sums -75, 12.5, -25
    assert select_filters(known_lenet, graph, {}, 50, criterion="l1")["features.0"] == [2, 3, 4]  # |v| .5, 2, 1
    ticket = apply_plan(copy.deepcopy(known_lenet), graph, select_filters(known_lenet, graph, {}, 50))
    assert ticket.features[0].weight[:, 0, 0, 0].tolist() == [5.0, 2.0, 4.0]


def test_maxout_pieces_go_in_pairs_ranked_by_their_summed_filters():
    net = create_model("vgg8_cifar", "maxout", in_channels=1)
    conv = net.features[0][0]  # 2 x 64 pieces
    with torch.no_grad():
        conv.weight.copy_(torch.arange(128.0).view(128, 1, 1, 1).expand_as(conv.weight))
        conv.weight[[10, 11]] = -1.0  # the pair of output channel 5 sums lowest
    graph = analyze(net, (1, 32, 32))
    assert graph.convs["features.0.0"].units[5] == (10, 11)
    plan = select_filters(net, graph, {}, 1)  # round(0.64) = 1 unit
    assert plan["features.0.0"] == [10, 11]
    ticket = apply_plan(copy.deepcopy(net), graph, select_filters(net, graph, {}, 50))
    assert ticket.features[0][0].out_channels == 64 and ticket.features[0][2].num_features == 32
    assert ticket(torch.randn(2, 1, 32, 32)).shape == (2, 10)


# --------------------------------------------------------------------------- small VGG
@pytest.mark.parametrize("activation", ["relu", "apl", "srelu"])
def test_vgg_one_level(activation):
    kwargs = {"hinges": 2} if activation == "apl" else {}
    init = create_model("vgg8_cifar", activation, in_channels=1, **kwargs)
    graph = analyze(init, (1, 32, 32))
    plan = select_filters(perturbed(init), graph, {}, 50)
    ticket = apply_plan(copy.deepcopy(init), graph, plan)
    blocks = [m for m in ticket.features if not isinstance(m, nn.MaxPool2d)]
    widths, inputs = [32, 64, 128, 256, 256], [1, 32, 64, 128, 256]
    assert [b[0].out_channels for b in blocks] == widths and [b[0].in_channels for b in blocks] == inputs
    assert [b[1].num_features for b in blocks] == widths
    # by hand: conv (out*in*9 + out bias) + batch norm 2*out (+ APL 2 hinges x 2, or SReLU 4, per channel),
    # linear 256*10+10
    per_unit = 0 if activation == "relu" else 4
    expected = sum(o * i * 9 + o + 2 * o + per_unit * o for o, i in zip(widths, inputs)) + 2_570
    assert count_parameters(ticket) == expected
    if activation == "srelu":
        assert [b[2].t_right.shape for b in blocks] == [(w,) for w in widths]
    if activation == "apl":
        assert [b[2].slopes.shape for b in blocks] == [(2, w) for w in widths]
        k = kept(plan, "features.0.0", 64)
        torch.testing.assert_close(blocks[0][2].offsets, init.features[0][2].offsets[:, k], rtol=0, atol=0)
    k0 = kept(plan, "features.0.0", 64)
    k1 = kept(plan, "features.2.0", 128)
    torch.testing.assert_close(blocks[1][0].weight, init.features[2][0].weight[k1][:, k0], rtol=0, atol=0)
    torch.testing.assert_close(blocks[1][1].running_var, init.features[2][1].running_var[k1], rtol=0, atol=0)
    assert ticket(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_removing_a_channel_equals_cutting_it_from_every_consumer():
    """The pruned VGG computes what the dense one computes with the pruned channels'
    consumer weights set to zero (eval mode)."""
    dense = perturbed(create_model("vgg8_cifar", "relu", in_channels=1)).eval()
    graph = analyze(dense, (1, 32, 32))
    plan = select_filters(dense, graph, {}, 40)
    pruned = apply_plan(copy.deepcopy(dense), graph, plan).eval()
    cut = copy.deepcopy(dense)
    convs = [m for m in cut.features if not isinstance(m, nn.MaxPool2d)]
    names = [n for n in graph.convs]
    with torch.no_grad():
        for prev, block in zip(names, convs[1:]):
            block[0].weight[:, plan[prev]] = 0
        cut.classifier[1].weight[:, plan[names[-1]]] = 0
    x = torch.randn(3, 1, 32, 32)
    torch.testing.assert_close(pruned(x), cut(x), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- tied channels
class ToyResidual(nn.Module):
    """stem -> (+ expand -> depthwise -> project): the residual sum ties stem and project."""

    input_size = (1, 8, 8)

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.expand = nn.Sequential(nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.depthwise = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.ReLU())
        self.project = nn.Sequential(nn.Conv2d(16, 8, 1), nn.BatchNorm2d(8))
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.project(self.depthwise(self.expand(x)))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_residual_sums_tie_convolutions_and_depthwise_ones_follow():
    net = ToyResidual()
    graph = analyze(net)
    assert graph.structural == ["expand.0"]
    assert graph.masked == ["stem.0", "project.0"]
    assert graph.convs["project.0"].tied_with == ["stem.0"]
    plan = select_filters(perturbed(net), graph, {}, 50)
    ticket = apply_plan(copy.deepcopy(net), graph, plan)
    assert ticket.expand[0].out_channels == 8 and ticket.expand[1].num_features == 8
    dw = ticket.depthwise[0]
    assert (dw.in_channels, dw.out_channels, dw.groups, dw.weight.shape[0]) == (8, 8, 8, 8)
    assert ticket.project[0].in_channels == 8
    assert ticket.stem[0].out_channels == 8  # masked, not removed
    # masked: stem 4 x (9 + 1) + BN 4 x 2, project 4 x (8 + 1) + BN 4 x 2
    assert stored_parameters(ticket) - count_parameters(ticket) == 48 + 44
    assert ticket(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    # removing expansion channels (and their depthwise filters) = cutting them from the projection
    net = perturbed(net).eval()
    gone = plan["expand.0"]
    pruned = apply_plan(copy.deepcopy(net), graph, {"expand.0": gone}).eval()
    cut = copy.deepcopy(net)
    with torch.no_grad():
        cut.project[0].weight[:, gone] = 0
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(pruned(x), cut(x), rtol=1e-4, atol=1e-5)


def test_a_grouped_pau_keeps_its_channel_count():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), PAU(groups=2), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    graph = analyze(net, (1, 6, 6))
    assert graph.masked == ["0"] and "grouped PAU" in graph.convs["0"].reason
    assert graph.structural == ["2"]
    plan = select_filters(perturbed(net), graph, {}, 50)
    ticket = apply_plan(copy.deepcopy(net), graph, plan)
    assert ticket[0].out_channels == 4 and ticket[2].out_channels == 2 and ticket[6].in_features == 2
    assert effective_weight(ticket[0])[plan["0"]].abs().sum() == 0
    assert ticket(torch.randn(2, 1, 6, 6)).shape == (2, 3)


class ViewNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.fc = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 6, 3), nn.Linear(6 * 2 * 2, 3)

    def forward(self, x):
        x = self.c2(torch.relu(self.c1(x)))
        return self.fc(x.view(x.size(0), -1))


def test_a_flattening_view_drops_every_position_of_a_removed_channel():
    net = ViewNet()
    graph = analyze(net, (1, 6, 6))
    assert graph.structural == ["c1", "c2"]
    plan = select_filters(perturbed(net), graph, {}, 50)
    ticket = apply_plan(copy.deepcopy(net), graph, plan)
    keep = kept(plan, "c2", 6)
    assert ticket.fc.in_features == 12
    columns = [4 * c + p for c in keep for p in range(4)]  # channel c holds features 4c .. 4c+3
    torch.testing.assert_close(ticket.fc.weight, net.fc.weight[:, columns], rtol=0, atol=0)
    assert ticket(torch.randn(2, 1, 6, 6)).shape == (2, 3)


def test_resnet_bottlenecks_mask_the_residual_stream_and_shrink_inside():
    net = ResNetCIFAR(as_act_factory("relu"), num_blocks=(1, 1, 1, 1), in_channels=1)
    graph = analyze(net, (1, 16, 16))
    assert set(graph.masked) == {f"layer{i}.0.{c}.0" for i in range(1, 5) for c in ("conv3", "shortcut")}
    assert set(graph.structural) == {"stem.0"} | {f"layer{i}.0.conv{c}.0" for i in range(1, 5) for c in (1, 2)}
    plan = select_filters(net, graph, {}, 50)
    ticket = apply_plan(copy.deepcopy(net), graph, plan)
    block = ticket.layer2[0]
    assert (block.conv1[0].out_channels, block.conv2[0].in_channels, block.conv2[0].out_channels) == (64, 64, 64)
    assert (block.conv3[0].in_channels, block.conv3[0].out_channels) == (64, 512)
    assert ticket.layer1[0].shortcut[0].in_channels == 32  # the stem shrank
    assert effective_weight(block.conv3[0]).flatten(1).abs().sum(1).eq(0).sum() == 256
    assert ticket(torch.randn(2, 1, 16, 16)).shape == (2, 10)


@pytest.fixture(scope="module")
def hydra_ctx():
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield


def synthetic_cfg(tmp_path, extra=()):
    return compose("prune", overrides=[
        "data=synthetic", "data.image_size=8", "data.num_train=64", "data.num_test=32", "data.batch_size=16",
        "optim=sgd", "optim.lr=0.05", "optim.momentum=0.9", "optim.weight_decay=5e-4", "schedule.epochs=3",
        f"paths.runs_dir={tmp_path}", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        "logger.csv=null", *extra,
    ])


def test_masked_filters_stay_masked_through_retraining(hydra_ctx, tmp_path):
    net = ToyResidual()
    graph = analyze(net)
    plan = select_filters(perturbed(net), graph, {}, 50)
    ticket = apply_plan(copy.deepcopy(net), graph, plan)
    before = {n: p.detach().clone() for n, p in ticket.named_parameters()}
    cfg = synthetic_cfg(tmp_path)
    module = PAUClassifier(cfg, model=ticket)
    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=build_datamodule(cfg))

    assert not torch.equal(before["stem.0.weight_orig"], ticket.stem[0].weight_orig)  # it trained
    for part, name in ((ticket.stem, "stem.0"), (ticket.project, "project.0")):
        rows = plan[name]
        for layer in part[:2]:  # the convolution and its batch norm
            assert effective_weight(layer)[rows].abs().sum() == 0
            assert effective_weight(layer, "bias")[rows].abs().sum() == 0
    # the masked filters contribute exactly nothing to the sum, in training mode too
    seen = {}
    ticket.project.register_forward_hook(lambda m, i, o: seen.setdefault("project", o))
    ticket.train()(torch.randn(4, 1, 8, 8))
    assert seen["project"][:, plan["project.0"]].abs().sum() == 0
    assert seen["project"][:, kept(plan, "project.0", 8)].abs().sum() > 0
    # the masks survive a state-dict round trip into a freshly pruned network
    fresh = apply_plan(ToyResidual(), graph, plan)
    fresh.load_state_dict(ticket.state_dict())
    assert effective_weight(fresh.stem[0])[plan["stem.0"]].abs().sum() == 0
    assert inference_ms(ticket, (1, 8, 8), batch_size=4, repeats=2, warmup=1) > 0
    assert effective_weight(ticket.stem[0])[plan["stem.0"]].abs().sum() == 0  # timing bakes a copy only


# --------------------------------------------------------------------------- the command
def test_pau_prune_on_digits_collected_and_drawn(hydra_ctx, tmp_path):
    """Two pruning levels through the real command (PAU and LReLU in one sweep), re-run
    (skipped), continued after losing its last level, collected, tabulated and drawn."""
    runs = tmp_path / "runs"
    args = ["data=digits", "model=lenet", "schedule.epochs=1", "data.train_subset=256", "pruning.levels=[30,60]",
            f"paths.runs_dir={runs}", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
            "logger.csv=null", "pruning.timing.repeats=2"]
    exe = Path(sys.executable).with_name("pau-prune")
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    done = subprocess.run([str(exe), "-m", "activation=pau,lrelu", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    changed = "data.train_subset=256,schedule.epochs=1"  # the keys changed beyond the defaults name a level
    folder = runs / "prune" / "digits" / "lenet" / "lrelu" / changed / "seed0"
    table = pd.read_csv(folder / "pruning.csv")
    assert table["level"].tolist() == [0, 1, 2] and table["percent"].tolist() == [0, 30, 60]
    # LeNet by hand after 30%: filters 4, 11, 84; after 60%: 2, 6, 48 (+ the classifier 84*in+84, 850)
    assert table["parameters"].tolist() == [
        61_706,
        4 * 25 + 4 + 11 * 4 * 25 + 11 + 84 * 11 * 25 + 84 + 84 * 84 + 84 + 850,
        2 * 25 + 2 + 6 * 2 * 25 + 6 + 48 * 6 * 25 + 48 + 84 * 48 + 84 + 850,
    ]
    assert table["test_acc"].between(0, 1).all() and (table["inference_ms_per_batch"] > 0).all()
    assert table["masked_layers"].isna().all()  # LeNet has no residual sums
    pau_table = pd.read_csv(runs / "prune" / "digits" / "lenet" / "pau" / changed / "seed0" / "pruning.csv")
    assert (pau_table["parameters"] - table["parameters"]).tolist() == [40, 40, 40]  # 4 PAUs x 10
    plan = json.loads((folder / "level2" / "plan.json").read_text())
    assert plan["layers"]["features.3"]["filters_left"] == 6 and plan["layers"]["features.3"]["mode"] == "removed"
    assert not (folder / "level1" / "checkpoints").exists() and (folder / "level1" / "weights.pt").is_file()
    assert (folder / "level1" / "metrics.csv").is_file() and not (folder / "config.yaml").exists()

    # a finished run is skipped; one that lost its last level continues there
    cfg = compose("prune", overrides=["activation=lrelu", *args], return_hydra_config=True)
    assert prune(cfg)["skipped"] is True
    first = (folder / "level1" / "weights.pt").stat().st_mtime_ns
    (folder / "level2" / "result.json").unlink()
    (folder / "final_pruning.json").unlink()
    result = prune(cfg)
    assert result["skipped"] is False and (folder / "level1" / "weights.pt").stat().st_mtime_ns == first
    assert pd.read_csv(folder / "pruning.csv")["parameters"].tolist() == table["parameters"].tolist()

    out = tmp_path / "results"
    collected = analysis.write_collected([runs], out / "pruning.csv")
    df = pd.read_csv(collected)
    assert len(df) == 6 and set(df["activation"]) == {"pau", "lrelu"} and set(df["status"]) == {"finished"}
    written = analysis.write_table(collected, out / "tables") + analysis.write_figure(collected, out / "figures")
    assert {p.name for p in written} >= {"pruning.md", "pruning.tex", "fig4_pruning.png", "fig4_pruning.pdf"}
    assert all(p.stat().st_size > 0 for p in written)
    md = (out / "tables" / "pruning.md").read_text()
    assert "LeNet on Digits" in md and "PAU accuracy (%)" in md and "LReLU accuracy (%)" in md
    summary = pd.read_csv(out / "tables" / "pruning_summary.csv")
    assert sorted(summary["percent"].unique()) == [0, 30, 60] and (summary["n"] == 1).all()


def test_prune_run_with_masked_layers_resumes_from_the_saved_masked_weights(hydra_ctx, tmp_path):
    """MobileNetV2: projections and shortcuts are masked and named in the record; a run
    that lost its last level re-selects it from the saved (masked) weights of the one
    before, choosing the same filters."""
    cfg = synthetic_cfg(tmp_path, ["model=mobilenetv2_cifar", "activation=relu", "data.in_channels=3",
                                   "data.mean=[0,0,0]", "data.std=[1,1,1]", "data.num_train=32", "schedule.epochs=1",
                                   "pruning.levels=[30,60]", "pruning.timing.repeats=1", "pruning.timing.warmup=0"])
    result = prune(cfg)
    folder = Path(result["run_dir"])
    table = pd.read_csv(folder / "pruning.csv")
    masked = table["masked_layers"].tolist()
    assert pd.isna(masked[0]) and masked[1] == masked[2]
    assert set(masked[1].split(";")) == {f"layers.{i}.project.0" for i in range(17)} | {
        f"layers.{i}.shortcut.0" for i in (0, 1, 10, 16)}  # the stride-1 blocks that change width
    assert (table["stored_parameters"] > table["parameters"]).tolist() == [False, True, True]
    plan = json.loads((folder / "level2" / "plan.json").read_text())
    assert plan["layers"]["layers.5.project.0"]["mode"] == "masked"
    assert plan["layers"]["layers.5.expand.0"]["filters_left"] == 192 - 115  # round(0.6 * 192) = 115 gone

    for name in ("plan.json", "result.json", "weights.pt"):
        (folder / "level2" / name).unlink()
    (folder / "final_pruning.json").unlink()
    assert prune(cfg)["skipped"] is False
    assert json.loads((folder / "level2" / "plan.json").read_text()) == plan
    assert pd.read_csv(folder / "pruning.csv")["parameters"].tolist() == table["parameters"].tolist()


def test_grid_configs_pair_pau_with_each_networks_baseline(hydra_ctx):
    pairs = {"prune_vgg8": ("vgg8_cifar", "lrelu"), "prune_mobilenetv2": ("mobilenetv2_cifar", "rrelu"),
             "prune_resnet101": ("resnet101_cifar", "rrelu")}
    parser = OverridesParser.create()
    for experiment, (model, baseline) in pairs.items():
        cfg = compose("prune", overrides=[f"experiment={experiment}"], return_hydra_config=True)
        assert cfg.model.name == model and cfg.data.name == "cifar10" and cfg.schedule.epochs == 400
        assert list(cfg.pruning.levels) == [10, 20, 30, 40, 50, 60] and cfg.pruning.criterion == "sum"
        assert cfg.paths.run_dir == f"runs/fig4-400ep/prune/cifar10/{model}/pau/seed0"
        # the jobs Hydra's basic sweeper launches: {PAU, baseline} x seeds 0-4
        params = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
        jobs = BasicSweeper.split_arguments(parser.parse_overrides(params), None)[0]
        assert sorted(tuple(sorted(job)) for job in jobs) == sorted(
            (f"activation={a}", f"seed={s}") for a in ("pau", baseline) for s in range(5))
