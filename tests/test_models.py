import functools

import pytest
import torch
import torchvision
from torch import nn

import pau
from pau import activations as A
from pau.models import create_model, input_size, list_models
from pau.models.densenet import DenseNetCIFAR
from pau.models.resnet import Bottleneck, ResNetCIFAR

NETWORKS = [
    "lenet", "vgg8_mnist", "vgg8_cifar", "mobilenetv2_cifar",
    "resnet101_cifar", "densenet121_cifar", "mobilenetv2_imagenet",
]
SITES = {
    "lenet": 4, "vgg8_mnist": 5, "vgg8_cifar": 5, "mobilenetv2_cifar": 36,
    "resnet101_cifar": 100, "densenet121_cifar": 120, "mobilenetv2_imagenet": 35,
}
# The counts the paper states (Appendix A.3.1 and Table 7; Appendix A.4.2)
STATED = {
    ("lenet", "pau"): 61_746,
    ("vgg8_mnist", "pau"): 9_224_508,
    ("vgg8_cifar", "relu"): 3_918_858,
    ("vgg8_cifar", "pau"): 3_918_858 + 50,
    ("vgg8_cifar", "maxout"): 7_829_642,
    ("mobilenetv2_cifar", "relu"): 2_296_922,
    ("mobilenetv2_cifar", "pau"): 2_296_922 + 360,
    ("mobilenetv2_cifar", "maxout"): 3_524_506,
    ("resnet101_cifar", "relu"): 42_512_970,
    ("resnet101_cifar", "pau"): 42_512_970 + 1000,
    ("resnet101_cifar", "maxout"): 75_454_090,
    ("densenet121_cifar", "relu"): 6_956_298,
    ("densenet121_cifar", "pau"): 6_956_298 + 1200,
}
ACTIVATIONS = {"relu": {}, "pau": {}, "rpau": {"alpha": 0.1}, "maxout": {}, "apl": {"hinges": 2}}
LARGE = {"resnet101_cifar", "densenet121_cifar", "mobilenetv2_imagenet"}


def _num_classes(name):
    return 1000 if name == "mobilenetv2_imagenet" else 10


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _meta_model(name, act, **kwargs):
    # parameter counting needs no memory or initialisation
    with torch.device("meta"):
        return create_model(name, act, num_classes=_num_classes(name), **kwargs)


def test_registry_names_and_input_sizes():
    assert list_models() == NETWORKS
    assert input_size("lenet") == input_size("vgg8_mnist") == (1, 32, 32)
    assert input_size("resnet101_cifar") == (3, 32, 32)
    assert input_size("mobilenetv2_imagenet") == (3, 224, 224)
    with pytest.raises(ValueError, match="vgg8_cifar"):
        create_model("vgg16")


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_parameter_counts_and_sites(name, act):
    model = _meta_model(name, act, **ACTIVATIONS[act])
    relu = _count(_meta_model(name, "relu"))
    sites = A.activation_modules(model)
    assert len(sites) == SITES[name]
    assert all(isinstance(m, A.get_act_layer(act)) for _, m in sites)
    if (name, act) in STATED:
        assert _count(model) == STATED[(name, act)]
    if act in ("pau", "rpau"):
        assert _count(model) == relu + 10 * SITES[name]
    if act == "apl":
        assert all(m.slopes.shape == (2, m.num_channels) for _, m in sites)
        assert _count(model) == relu + sum(4 * m.num_channels for _, m in sites)


def test_imagenet_mobilenetv2_matches_torchvision_count():
    with torch.device("meta"):
        expected = _count(torchvision.models.mobilenet_v2())
        assert _count(create_model("mobilenetv2_imagenet", "relu6", num_classes=1000)) == expected
        assert _count(create_model("mobilenetv2_imagenet", "pau", num_classes=1000)) == expected + 350


def test_mnist_layers_match_table7():
    lenet = _meta_model("lenet", "pau")
    layers = [m for m in lenet.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [_count(m) for m in layers] == [156, 2416, 48120, 10164, 850]
    vgg = _meta_model("vgg8_mnist", "pau")
    layers = [m for m in vgg.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    expected = [640, 73856, 295168, 590080, 1180160, 2359808, 2359808, 2359808, 5130]
    assert [_count(m) for m in layers] == expected
    assert all(_count(m) == 10 for _, m in A.activation_modules(vgg))


@pytest.mark.parametrize("name", NETWORKS)
def test_every_site_is_its_own_module(name):
    model = _meta_model(name, "pau")
    all_sites = [m for _, m in model.named_modules(remove_duplicate=False) if A.is_activation(m)]
    assert len(all_sites) == len({id(m) for m in all_sites}) == SITES[name]
    coefficients = [id(m.numerator) for m in all_sites]
    assert len(set(coefficients)) == SITES[name]


def _check_forward_backward(model, x, num_classes=10):
    calls = {}
    for site_name, m in A.activation_modules(model):
        m.register_forward_hook(lambda mod, inp, out, key=site_name: calls.__setitem__(key, calls.get(key, 0) + 1))
    y = model.train()(x)
    assert y.shape == (x.shape[0], num_classes)
    assert torch.isfinite(y).all()
    y.logsumexp(dim=1).sum().backward()
    # every site is used exactly once per forward pass
    assert len(calls) == A.count_activation_sites(model) and set(calls.values()) == {1}
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


# The large networks run once per activation at their native input size; in the
# default suite only with PAU. Their blocks meet every activation, Maxout's
# widening included, in the shallow variants below.
_CASES = [
    pytest.param(name, act, marks=[pytest.mark.slow] if name in LARGE and act != "pau" else [])
    for name in NETWORKS
    for act in ACTIVATIONS
]


@pytest.mark.parametrize("name,act", _CASES)
def test_forward_backward_every_parameter_gets_a_gradient(name, act):
    model = create_model(name, act, num_classes=_num_classes(name), **ACTIVATIONS[act])
    assert A.count_activation_sites(model) == SITES[name]
    _check_forward_backward(model, torch.randn(2, *input_size(name)), _num_classes(name))


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("cls", [ResNetCIFAR, DenseNetCIFAR])
def test_shallow_resnet_and_densenet_blocks(cls, act):
    # the same block code as the 101/121-layer networks, with fewer blocks on 16x16
    # inputs (the pooling before the classifier is adaptive)
    model = cls(A.as_act_factory(act, **ACTIVATIONS[act]), num_blocks=(2, 1, 1, 1))
    sites = 1 + 3 * 5 if cls is ResNetCIFAR else 2 * 5 + 3 + 1
    assert A.count_activation_sites(model) == sites
    _check_forward_backward(model, torch.randn(2, 3, 16, 16))


@pytest.mark.parametrize(
    "model_fn",
    [
        lambda f: create_model("mobilenetv2_cifar", f),
        lambda f: ResNetCIFAR(f, num_blocks=(2, 1, 1, 1)),
        lambda f: DenseNetCIFAR(f, num_blocks=(2, 1, 1, 1)),
        lambda f: create_model("mobilenetv2_imagenet", f, num_classes=1000),
    ],
    ids=["mobilenetv2_cifar", "resnet", "densenet", "mobilenetv2_imagenet"],
)
def test_no_nonlinearity_outside_the_sites(model_fn):
    # With identity units and frozen BN, a network without max-pooling is affine in
    # its input; any hidden nonlinearity (a functional relu) would break this.
    model = model_fn(A.as_act_factory(nn.Identity)).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        f0, f1, f2 = model(torch.cat([torch.zeros_like(x), x, 2 * x]))
    assert torch.allclose(f2 - f1, f1 - f0, rtol=1e-3, atol=1e-3 * (f1 - f0).abs().max().item())


def test_imagenet_mobilenetv2_is_torchvisions_network():
    ours = create_model("mobilenetv2_imagenet", "relu6", num_classes=1000).eval()
    theirs = torchvision.models.mobilenet_v2().eval()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    # torchvision's initialisation: conv fan-out Kaiming, linear N(0, 0.01)
    assert abs(ours.classifier[1].weight.std().item() - 0.01) < 0.001


def test_maxout_widens_the_layer_before_each_unit():
    vgg = create_model("vgg8_cifar", "maxout")
    convs = [m for m in vgg.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 256, 512, 1024, 1024]
    assert [c.in_channels for c in convs] == [3, 64, 128, 256, 512]
    mbv2 = create_model("mobilenetv2_cifar", "maxout")
    dw = mbv2.layers[3].depthwise[0]
    assert dw.groups == dw.in_channels == 144 and dw.out_channels == 288  # still depthwise
    x = torch.randn(2, 3, 32, 32)
    assert mbv2.stem(x).shape == (2, 32, 32, 32)


def test_maxout_resnet_blocks():
    make = A.as_act_factory("maxout")
    x = torch.randn(2, 256, 8, 8)
    identity = Bottleneck(256, 64, 1, make).eval()
    projection = Bottleneck(256, 128, 2, make).eval()
    assert projection.shortcut[0].out_channels == 2 * 512
    with torch.no_grad():
        r = identity.conv3(identity.conv2(identity.conv1(x)))
        # max over identical pieces: the identity block ends without a nonlinearity
        assert torch.allclose(identity(x), r + x, atol=1e-6)
        r = projection.conv3(projection.conv2(projection.conv1(x)))
        s = projection.shortcut(x)
        expected = r + torch.maximum(s[:, 0::2], s[:, 1::2])
        assert torch.allclose(projection(x), expected, atol=1e-6)


def test_activation_argument_forms():
    by_name = create_model("lenet", "rpau", alpha=0.1)
    by_partial = create_model("lenet", functools.partial(pau.RPAU, alpha=0.1))
    by_factory = create_model("lenet", A.as_act_factory("rpau", alpha=0.1))
    for model in (by_name, by_partial, by_factory):
        sites = A.activation_modules(model)
        assert len(sites) == 4 and all(isinstance(m, pau.RPAU) and m.alpha == 0.1 for _, m in sites)
    with pytest.raises(ValueError, match="relu"):
        create_model("lenet", "tanhh")


def test_num_classes_and_in_channels():
    model = create_model("lenet", "relu", num_classes=7, in_channels=3)
    assert model.features[0].in_channels == 3
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    model = create_model("vgg8_cifar", "srelu", num_classes=100)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    with torch.device("meta"):
        assert create_model("mobilenetv2_imagenet").classifier[1].out_features == 1000
        assert create_model("densenet121_cifar").linear.out_features == 10


def test_kaiming_weight_init_is_torchvisions_vgg_scheme():
    torch.manual_seed(0)
    net = create_model("vgg8_mnist", weight_init="kaiming")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs[1:]:  # enough weights for the std to be within 2%
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.02)
        assert torch.count_nonzero(conv.bias) == 0
    linear = net.classifier[-1]
    assert linear.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.count_nonzero(linear.bias) == 0
    # the default keeps PyTorch's own initialisation, drawn from the same seed
    torch.manual_seed(0)
    default = create_model("vgg8_mnist")
    torch.manual_seed(0)
    again = create_model("vgg8_mnist", weight_init="pytorch")
    assert all(torch.equal(a, b) for a, b in zip(default.parameters(), again.parameters()))


def test_unknown_weight_init_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid names: pytorch, kaiming"):
        create_model("lenet", weight_init="xavier")
