"""pau.replace_activations on torchvision, timm and hand-written models; act_layer=pau.PAU."""
from __future__ import annotations

import io

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from torch import fx, nn

import pau
from pau.convert import Report

INTERVAL = 3.0  # where the initial coefficients are fitted
# The functions the units replace, written with torch (the oracle), by pau.init name.
ORACLE = {
    "relu": F.relu,
    "relu6": F.relu6,
    "gelu": F.gelu,
    "swish(beta=1)": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hardswish": F.hardswish,
    "elu(alpha=1)": F.elu,
    "leaky_relu(negative_slope=0.2)": lambda x: F.leaky_relu(x, 0.2),
    "leaky_relu(negative_slope=0.01)": lambda x: F.leaky_relu(x, 0.01),
}


def units(model):
    return [m for m in model.modules() if isinstance(m, pau.PAU)]


def assert_each_unit_approximates_what_it_replaced(model, report: Report, x):
    """Every unit, on the inputs it receives, within its fitting error of the function it replaced."""
    checked, hooks = {}, []
    for site in report.sites:
        fn = ORACLE[site.init]

        def hook(_module, args, out, site=site, fn=fn):
            inp = args[0].detach().double()
            inside = inp.abs() <= INTERVAL
            gap = (out.detach().double() - fn(inp))[inside].abs().max().item()
            checked[site.path] = (gap, int(inside.sum()))

        hooks.append(model.get_submodule(site.path).register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    assert set(checked) == {s.path for s in report.sites}, "every unit is called"
    for site in report.sites:
        gap, count = checked[site.path]
        assert count > 0 and gap <= site.max_error * 1.001 + 1e-6, (site, gap)


def test_resnet18_gets_one_unit_per_call_site():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    converted, report = pau.replace_activations(model)
    assert len(report) == 17 and len(units(converted)) == 17
    assert len({id(u) for u in units(converted)}) == 17
    assert not any(isinstance(m, nn.ReLU) for m in converted.modules())
    # Each BasicBlock calls one self.relu twice: the graph is rewritten, the second call gets its own unit.
    assert report.graph_rewritten and isinstance(converted, fx.GraphModule)
    assert report.shared == [f"layer{i}.{j}.relu" for i in range(1, 5) for j in (0, 1)]
    assert [s.path for s in report.sites][:3] == ["relu", "layer1.0.relu", "layer1.0.relu_1"]
    assert {s.init for s in report.sites} == {"relu"} and all(s.replaced.startswith("ReLU") for s in report.sites)
    # The other weights keep their names.
    assert set(model.state_dict()) <= set(converted.state_dict())
    assert_each_unit_approximates_what_it_replaced(converted, report, torch.randn(2, 3, 32, 32))


def test_mobilenet_v2_is_converted_in_place():
    model = torchvision.models.mobilenet_v2(num_classes=10).eval()
    converted, report = pau.replace_activations(model)
    assert converted is model and isinstance(converted, torchvision.models.MobileNetV2)
    assert len(report) == 35 and len(units(model)) == 35 and not report.graph_rewritten
    assert not any(isinstance(m, nn.ReLU6) for m in model.modules())
    assert {s.init for s in report.sites} == {"relu6"}
    assert_each_unit_approximates_what_it_replaced(model, report, torch.randn(2, 3, 32, 32))


def test_densenet121_functional_relu_is_a_site():
    model = torchvision.models.densenet121(num_classes=10).eval()
    converted, report = pau.replace_activations(model, pau.RPAU, alpha=0.05)
    # 58 dense layers x 2, 3 transitions, the stem, and F.relu after the last norm in forward.
    assert len(report) == 121 and len(units(converted)) == 121
    assert all(isinstance(u, pau.RPAU) and u.alpha == 0.05 for u in units(converted))
    assert report.sites[-1].replaced == "F.relu" and report.sites[-1].path == "relu"
    assert not converted.training and converted(torch.randn(1, 3, 32, 32)).shape == (1, 10)


class Parallel(nn.Module):
    """Activations written every way, each applied to the input (no compounding)."""

    def __init__(self):
        super().__init__()
        self.act = nn.GELU()
        self.leaky = nn.LeakyReLU(0.2)

    def forward(self, x):
        y = self.act(x) + self.act(0.5 * x)  # one module, two sites
        y = y + F.relu(x) + torch.tanh(x) + x.sigmoid() + F.leaky_relu(x, negative_slope=0.2) + self.leaky(x)
        y = y + F.elu(x) + F.silu(x) + F.hardswish(x) + F.relu6(x)
        z = x.clone()
        F.relu(z, inplace=True)  # the result is read through z
        return y + z


def test_functional_and_shared_sites_stay_within_the_fitting_error():
    model = Parallel()
    x = torch.linspace(-INTERVAL, INTERVAL, 2001).reshape(1, -1)
    expected = model(x)
    converted, report = pau.replace_activations(model)
    assert len(report) == 12 and report.shared == ["act"]
    assert {s.replaced for s in report.sites} >= {"F.relu", "torch.tanh", "Tensor.sigmoid", "F.leaky_relu", "F.relu6"}
    assert {s.init for s in report.sites} == {
        "gelu", "relu", "tanh", "sigmoid", "leaky_relu(negative_slope=0.2)", "elu(alpha=1)", "swish(beta=1)",
        "hardswish", "relu6",
    }
    with torch.no_grad():
        gap = (converted(x) - expected).abs().max().item()
    bound = sum(s.max_error for s in report.sites)
    assert 0 < gap <= bound * 1.001 + 1e-5
    # The in-place relu's result is what the last addition reads.
    plain = Parallel()
    only_inplace, _ = pau.replace_activations(plain, activations=[nn.ReLU])
    with torch.no_grad():
        assert (only_inplace(x) - expected).abs().max().item() <= 2 * pau.init.entry("relu").max_error + 1e-5


def test_state_dict_round_trips_into_a_fresh_conversion():
    torch.manual_seed(0)
    trained, _ = pau.replace_activations(torchvision.models.resnet18(num_classes=10), form="B")
    with torch.no_grad():
        for u in units(trained):  # as if trained: every unit differs
            u.numerator.add_(0.01 * torch.randn_like(u.numerator))
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    fresh, _ = pau.replace_activations(torchvision.models.resnet18(num_classes=10), form="B")
    fresh.load_state_dict(torch.load(buffer))
    x = torch.randn(2, 3, 32, 32)
    trained.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(trained(x), fresh(x))


def test_options_init_and_predicate():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh())
    converted, report = pau.replace_activations(model, "rpau", init="leaky_relu", m=3, n=2, alpha=0.1)
    assert converted is model and len(report) == 2
    for u in units(model):
        assert isinstance(u, pau.RPAU) and (u.m, u.n, u.alpha) == (3, 2, 0.1)
        assert torch.allclose(u.numerator.double(), pau.init.coefficients("leaky_relu", 3, 2)[0])

    class Custom(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(1.702 * x)

    model = nn.Sequential(nn.Linear(4, 4), Custom(), nn.ReLU())
    with pytest.raises(ValueError, match="init='match' does not know what Custom computes"):
        pau.replace_activations(model, predicate=lambda name, m: isinstance(m, Custom))
    converted, report = pau.replace_activations(model, init="gelu", predicate=lambda name, m: isinstance(m, Custom))
    assert [s.path for s in report.sites] == ["1"] and isinstance(converted[2], nn.ReLU)


class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.ReLU()
        self.b = self.a  # one module at two paths
        self.c = nn.Tanh()

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return self.c(self.a(x))
        return self.b(x)


def test_an_untraceable_model_is_converted_module_by_module_with_a_warning():
    model = Untraceable()
    with pytest.warns(RuntimeWarning, match=r"could not be traced.*a = b"):
        converted, report = pau.replace_activations(model)
    assert converted is model and not report.traced and len(report) == 3
    assert model.a is not model.b and isinstance(model.b, pau.PAU) and isinstance(model.c, pau.PAU)


def test_bad_arguments_say_what_is_expected():
    with pytest.raises(ValueError, match="layer must be PAU, RPAU"):
        pau.replace_activations(nn.ReLU(), layer="gelu")
    with pytest.raises(ValueError, match="activations must be nn.Module classes"):
        pau.replace_activations(nn.Sequential(nn.ReLU()), activations=["relu"])
    with pytest.raises(ValueError, match="PAU takes m, n, form, groups; got unexpected alpha"):
        pau.replace_activations(nn.Sequential(nn.ReLU()), alpha=0.1)
    with pytest.raises(ValueError, match="takes an nn.Module"):
        pau.replace_activations(lambda x: x)


def test_act_layer_builds_timm_and_torchvision_models():
    for name, sites in (("resnet18", 17), ("mobilenetv2_100", 35)):
        model = timm.create_model(name, act_layer=pau.PAU, num_classes=10)
        assert len(units(model)) == sites
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    block = torchvision.ops.Conv2dNormActivation(3, 8, activation_layer=pau.RPAU)  # builds RPAU(inplace=True)
    assert isinstance(block[2], pau.RPAU)


def test_match_errors_as_the_readme_states():
    model = nn.Sequential(nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(), nn.LeakyReLU(0.2), nn.GELU(), nn.ELU(), nn.SiLU(),
                          nn.Tanh(), nn.Sigmoid(), nn.Hardswish())
    _, report = pau.replace_activations(model)
    error = {type(m).__name__: s.max_error for m, s in zip(nn.Sequential(*[
        nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(), nn.LeakyReLU(0.2), nn.GELU(), nn.ELU(), nn.SiLU(), nn.Tanh(),
        nn.Sigmoid(), nn.Hardswish()]), report.sites)}
    assert all(0.02 < error[k] < 0.035 for k in ("ReLU", "ReLU6", "LeakyReLU"))
    assert 2e-3 < error["GELU"] < 3.5e-3
    assert all(error[k] < 1e-3 for k in ("ELU", "SiLU", "Tanh", "Sigmoid", "Hardswish"))
    # One initialisation for every unit: a name or explicit coefficients.
    num, den = pau.init.coefficients("tanh")
    model = nn.Sequential(nn.ReLU(), nn.GELU())
    _, report = pau.replace_activations(model, init=(num, den))
    assert [s.init for s in report.sites] == ["given coefficients"] * 2
    assert all(torch.equal(u.numerator.data, num.float()) for u in units(model))
