import functools
import math

import pytest
import torch
from torch import nn

import pau
from pau import activations as A

NAMES = [
    "relu", "relu6", "lrelu", "rrelu", "elu", "celu", "swish", "prelu",
    "maxout", "mixture", "slaf", "apl", "srelu", "pau", "rpau",
]
LEARNABLE = {"prelu", "mixture", "slaf", "apl", "srelu", "pau", "rpau"}
STOCHASTIC = {"rrelu", "rpau"}
C = 6


def _unit(name, **kwargs):
    return A.create_act_layer(name, num_channels=C, **kwargs)


def _input(name, requires_grad=False):
    k = 2 if name == "maxout" else 1
    # spread over [-4, 4] so every piece of the piecewise units is hit
    return (torch.randn(4, k * C, 5, 5) * 2).requires_grad_(requires_grad)


def test_registry_lists_the_fifteen_units_in_order():
    assert A.list_activations() == NAMES


def test_unknown_name_raises_value_error_listing_valid_names():
    with pytest.raises(ValueError) as err:
        A.get_act_layer("gelu")
    for name in NAMES:
        assert name in str(err.value)


def test_get_act_layer_returns_classes_and_is_case_insensitive():
    assert A.get_act_layer("ReLU") is nn.ReLU
    assert A.get_act_layer("swish") is nn.SiLU
    assert A.get_act_layer("pau") is pau.PAU
    assert A.get_act_layer("rpau") is pau.RPAU
    assert A.get_act_layer("maxout") is A.Maxout
    for name in NAMES:
        assert isinstance(A.get_act_layer(name), type)


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_finite(name):
    # srelu's t_right has zero gradient while a_right = 1 (its default start); move it
    kwargs = {"a_right": 0.5} if name == "srelu" else {}
    unit = _unit(name, **kwargs).train()
    x = _input(name, requires_grad=True)
    y = unit(x)
    assert y.shape == (4, C, 5, 5)
    assert torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    params = list(unit.parameters())
    assert bool(params) == (name in LEARNABLE)
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all()
        assert p.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_train_and_eval_modes(name):
    unit = _unit(name)
    x = _input(name)
    unit.eval()
    with torch.no_grad():
        e1, e2 = unit(x), unit(x)
        assert torch.equal(e1, e2)  # evaluation is deterministic for every unit
        unit.train()
        t1, t2 = unit(x), unit(x)
    assert torch.isfinite(t1).all()
    if name in STOCHASTIC:
        assert not torch.equal(t1, t2)
        assert not torch.equal(t1, e1)
    else:
        assert torch.equal(t1, e1)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    unit = _unit(name).eval()
    with torch.no_grad():
        for p in unit.parameters():
            p.add_(0.05 * torch.randn_like(p))
    state = unit.state_dict()
    torch.manual_seed(123)
    fresh = _unit(name).eval()
    fresh.load_state_dict(state)
    assert fresh.state_dict().keys() == state.keys()
    x = _input(name)
    with torch.no_grad():
        assert torch.equal(fresh(x), unit(x))


def test_keyword_arguments_configure_units():
    x = torch.tensor([-1.0, 2.0])
    assert torch.allclose(A.create_act_layer("lrelu", negative_slope=0.2)(x), torch.tensor([-0.2, 2.0]))
    assert A.create_act_layer("rpau", alpha=0.1).alpha == 0.1
    p = A.create_act_layer("pau", m=3, n=2, init=(torch.ones(4), torch.ones(2)))
    assert p.numerator.shape == (4,) and p.denominator.shape == (2,)
    assert A.create_act_layer("apl", num_channels=7, hinges=3).slopes.shape == (3, 7)
    assert A.create_act_layer("slaf", degree=4).coefficients.shape == (5,)
    assert A.create_act_layer("maxout", pieces=3).inputs_per_output == 3


def test_per_channel_units_require_num_channels():
    for name in ("apl", "srelu"):
        with pytest.raises(TypeError, match="num_channels"):
            A.create_act_layer(name)
    # units without per-channel parameters ignore it
    assert sum(p.numel() for p in A.create_act_layer("prelu", num_channels=64).parameters()) == 1


def test_inputs_per_output_of_units_classes_partials_and_factories():
    for name in NAMES:
        expected = 2 if name == "maxout" else 1
        assert A.inputs_per_output(name) == expected
        assert A.inputs_per_output(A.get_act_layer(name)) == expected
        assert A.as_act_factory(name).inputs_per_output == expected
    assert A.inputs_per_output(functools.partial(A.Maxout, pieces=4)) == 4
    assert A.as_act_factory("maxout", pieces=3).inputs_per_output == 3
    assert A.inputs_per_output(A.Maxout(pieces=3)) == 3
    assert A.inputs_per_output(nn.ReLU()) == 1


def test_factory_builds_a_new_unit_each_call():
    make = A.as_act_factory("pau")
    a, b = make(), make()
    assert a is not b and a.numerator is not b.numerator
    assert A.as_act_factory(make) is make


def test_maxout_takes_the_max_over_adjacent_channel_groups():
    x = torch.randn(3, 8, 2, 2)
    y = A.Maxout()(x)
    assert torch.equal(y, torch.maximum(x[:, 0::2], x[:, 1::2]))
    z = A.Maxout(pieces=4)(torch.randn(5, 12))
    assert z.shape == (5, 3)
    with pytest.raises(ValueError):
        A.Maxout()(torch.randn(2, 5))


def test_mixture_is_a_weighted_sum_of_identity_and_relu():
    unit = A.Mixture(init=(0.3, 0.9))
    x = torch.linspace(-3, 3, 13)
    assert torch.allclose(unit(x), 0.3 * x + 0.9 * torch.relu(x))
    assert torch.allclose(A.Mixture()(x), 0.5 * x + 0.5 * torch.relu(x))


def test_slaf_evaluates_its_taylor_polynomial():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    assert torch.equal(A.SLAF().to(torch.float64)(x), x)  # identity at initialisation
    a = [0.5, -1.0, 2.0, 3.0]
    unit = A.SLAF(degree=3, init=a).to(torch.float64)
    expected = sum(a[i] * x**i / math.factorial(i) for i in range(4))
    assert torch.allclose(unit(x), expected)


def test_apl_matches_its_definition_per_channel():
    unit = A.APL(num_channels=3, hinges=2)
    x = torch.randn(4, 3, 2, 2)
    a, b = unit.slopes.detach(), unit.offsets.detach()
    expected = torch.relu(x)
    for s in range(2):
        expected = expected + a[s].view(1, 3, 1, 1) * torch.relu(b[s].view(1, 3, 1, 1) - x)
    assert torch.allclose(unit(x), expected)
    assert unit(torch.randn(5, 3)).shape == (5, 3)  # (N, C) inputs after a linear layer


def test_srelu_pieces_and_its_leaky_relu_start():
    x = torch.linspace(-4, 4, 81)
    assert torch.allclose(A.SReLU(num_channels=1)(x.view(-1, 1)).flatten(), nn.functional.leaky_relu(x, 0.01))
    unit = A.SReLU(num_channels=2, t_left=-1.0, a_left=0.1, t_right=2.0, a_right=0.5)
    y = unit(torch.tensor([[-3.0, 0.5], [3.0, 2.0]]))
    assert torch.allclose(y, torch.tensor([[-1.2, 0.5], [2.5, 2.0]]))


def test_swish_and_prelu_follow_the_paper():
    x = torch.randn(100)
    assert torch.allclose(A.create_act_layer("swish")(x), x * torch.sigmoid(x))
    prelu = A.create_act_layer("prelu")
    assert sum(p.numel() for p in prelu.parameters()) == 1  # one learnable slope
    rrelu = A.create_act_layer("rrelu").eval()
    neg = torch.tensor([-1.0])
    assert torch.allclose(rrelu(neg), -torch.tensor([(1 / 8 + 1 / 3) / 2]))


def test_learnable_detection_and_parameter_groups():
    for name in NAMES:
        unit = _unit(name)
        assert A.is_activation(unit)
        assert A.is_learnable_activation(unit) == (name in LEARNABLE)
    assert not A.is_activation(nn.Linear(2, 2))

    model = nn.Sequential(
        nn.Linear(4, 6), pau.PAU(), nn.Linear(6, 6), A.APL(6), nn.Linear(6, 6), pau.RPAU(), nn.PReLU(), nn.ReLU()
    )
    assert A.count_activation_sites(model) == 5
    assert [n for n, _ in A.activation_modules(model)] == ["1", "3", "5", "6", "7"]
    groups = A.split_parameters(model)
    ids = {k: {id(p) for p in v} for k, v in groups.items()}
    assert ids["pau"] == {id(p) for m in (model[1], model[5]) for p in m.parameters()}
    assert ids["activation"] == {id(p) for m in (model[3], model[6]) for p in m.parameters()}
    assert ids["network"] == {id(p) for m in (model[0], model[2], model[4]) for p in m.parameters()}
    assert {id(p) for p in A.pau_parameters(model)} == ids["pau"]
    assert {id(p) for p in A.activation_parameters(model)} == ids["pau"] | ids["activation"]
    assert {id(p) for p in A.activation_parameters(model, include_pau=False)} == ids["activation"]


def test_apl_slope_penalty_is_the_weighted_sum_of_squared_slopes():
    assert A.APL(4).penalty().item() == 0.0  # off by default, as before
    unit = A.APL(num_channels=3, hinges=2, slope_penalty=0.001)
    a = unit.slopes.detach().tolist()
    by_hand = 0.001 * sum(v * v for row in a for v in row)
    assert unit.penalty().item() == pytest.approx(by_hand, rel=1e-6)
    unit.penalty().backward()
    torch.testing.assert_close(unit.slopes.grad, 2 * 0.001 * unit.slopes.detach())
    assert A.create_act_layer("apl", num_channels=5, slope_penalty=0.01).slope_penalty == 0.01
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="slope_penalty"):
            A.APL(3, slope_penalty=bad)


def test_regularization_sums_the_penalties_of_a_model():
    first, second = A.APL(6, slope_penalty=0.001), A.APL(6, hinges=3, slope_penalty=0.05)
    model = nn.Sequential(nn.Linear(4, 6), first, nn.Linear(6, 6), pau.PAU(), second, A.SReLU(6), A.APL(6))
    by_hand = sum(w * float((u.slopes.detach() ** 2).sum()) for w, u in ((0.001, first), (0.05, second)))
    total = A.regularization(model)
    assert total.shape == () and total.item() == pytest.approx(by_hand, rel=1e-6)
    # One SGD step on the penalty alone shrinks each slope by lr * 2 * weight * a.
    before = second.slopes.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    total.backward()
    opt.step()
    torch.testing.assert_close(second.slopes.detach(), before * (1 - 0.5 * 2 * 0.05))
    assert A.regularization(nn.Sequential(nn.Linear(2, 2), A.APL(2))).item() == 0.0  # default weight 0
    none = A.regularization(nn.Sequential(nn.Linear(2, 2).double(), nn.ReLU()))
    assert none.item() == 0.0 and none.dtype == torch.float64


def test_srelu_frozen_parameters_get_no_gradient_and_do_not_move():
    torch.manual_seed(0)
    unit = A.SReLU(num_channels=3, t_left=-0.5, a_left=0.2, t_right=0.5, a_right=0.5)
    x = (torch.randn(8, 3, 4, 4) * 2).requires_grad_()
    free = unit(x)
    assert unit.freeze() is unit and unit.frozen
    frozen = unit(x)
    assert torch.equal(free, frozen)  # the same function, only out of the graph
    before = [p.detach().clone() for p in unit.parameters()]
    opt = torch.optim.SGD(unit.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    (frozen * torch.randn_like(frozen)).sum().backward()
    assert all(p.grad is None for p in unit.parameters())
    assert x.grad is not None and x.grad.abs().sum() > 0  # the network behind it still learns
    opt.step()
    assert all(torch.equal(p, b) for p, b in zip(unit.parameters(), before))
    unit.unfreeze()
    y = unit(x)
    (y * torch.randn_like(y)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in unit.parameters())
    assert A.create_act_layer("srelu", num_channels=2, frozen=True).frozen
    assert not A.SReLU(2).frozen  # trains from its start by default, as before


def test_srelu_init_from_batch_sets_t_right_to_the_channel_quantiles():
    import numpy as np

    torch.manual_seed(1)
    unit = A.SReLU(num_channels=4)
    x = torch.randn(16, 4, 5, 3) * torch.tensor([1.0, 2.0, 0.5, 3.0]).view(1, 4, 1, 1) + 0.3
    t = unit.init_from_batch(x, quantile=0.9)
    per_channel = x.transpose(0, 1).reshape(4, -1).double().numpy()
    expected = np.quantile(per_channel, 0.9, axis=1)
    np.testing.assert_allclose(unit.t_right.detach().double().numpy(), expected, rtol=1e-6)
    assert torch.equal(t, unit.t_right.detach())
    assert unit.t_left.tolist() == [0.0] * 4 and unit.a_right.tolist() == [1.0] * 4  # only t_r moves
    flat = torch.randn(101, 4)
    unit.init_from_batch(flat, quantile=0.5)
    torch.testing.assert_close(unit.t_right.detach(), flat.median(dim=0).values)
    with pytest.raises(ValueError, match="quantile"):
        unit.init_from_batch(flat, quantile=90)
    with pytest.raises(ValueError, match="channels"):
        unit.init_from_batch(torch.randn(8, 3))


def test_srelu_warm_up_on_a_network():
    import numpy as np

    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), A.SReLU(3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5), A.SReLU(5)
    ).train()
    assert A.freeze_srelu(model) == 2 and model[2].frozen and model[5].frozen
    x = torch.randn(32, 1, 6, 6)
    with torch.no_grad():
        model.eval()
        first_in = model[1](model[0](x))
        second_in = model[4](model[3](model[2](first_in)))
        model.train()
    stats = model[1].running_mean.clone()
    found = A.init_srelu_from_batch(model, x, quantile=0.75)
    assert set(found) == {"2", "5"}
    assert model.training and model[1].training  # modes restored
    assert torch.equal(model[1].running_mean, stats)  # batch-norm statistics untouched
    for unit, inp in ((model[2], first_in), (model[5], second_in)):
        per_channel = inp.transpose(0, 1).reshape(inp.shape[1], -1).double().numpy()
        np.testing.assert_allclose(unit.t_right.detach().double().numpy(), np.quantile(per_channel, 0.75, axis=1),
                                   rtol=1e-5, atol=1e-6)
    assert A.freeze_srelu(model, False) == 2 and not model[2].frozen
    with pytest.raises(ValueError, match="no SReLU"):
        A.init_srelu_from_batch(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), torch.randn(3, 2))
