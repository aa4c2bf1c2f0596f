"""Registry names and the paper's display names, row and column orders."""
from __future__ import annotations

ACTIVATIONS = {
    "relu": "ReLU",
    "relu6": "ReLU6",
    "lrelu": "LReLU",
    "rrelu": "RReLU",
    "elu": "ELU",
    "celu": "CELU",
    "swish": "Swish",
    "prelu": "PReLU",
    "maxout": "Maxout",
    "mixture": "Mixture",
    "slaf": "SLAF",
    "apl": "APL",
    "srelu": "SReLU",
    "pau": "PAU",
    "rpau": "RPAU",
}

DATASETS = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "imagenet": "ImageNet",
    "digits": "Digits",
    "synthetic": "Synthetic",
}

MODELS = {
    "lenet": "LeNet",
    "vgg8_mnist": "VGG-8",
    "vgg8_cifar": "VGG-8",
    "mobilenetv2_cifar": "MobileNetV2",
    "resnet101_cifar": "ResNet101",
    "densenet121_cifar": "DenseNet121",
    "mobilenetv2_imagenet": "MobileNetV2",
}

# The PAU family that Table 5 compares against every other activation.
PAU_FAMILY = ("PAU", "RPAU")
# Table 5's baselines, in its column order.
TABLE5_BASELINES = ("ReLU", "ReLU6", "LReLU", "RReLU", "ELU", "CELU", "PReLU", "Swish", "Maxout", "Mixture", "APL", "SReLU")


def display(mapping: dict[str, str], name: str) -> str:
    """Paper name of a registry name; unknown names pass through unchanged."""
    return mapping.get(str(name), str(name))


def order_rows(names, preferred) -> list[str]:
    """``names`` in ``preferred`` order; others go before the PAU family, which stays last."""
    names = list(dict.fromkeys(names))
    known = [n for n in preferred if n in names and n not in PAU_FAMILY]
    extra = [n for n in ACTIVATIONS.values() if n in names and n not in preferred and n not in PAU_FAMILY]
    extra += [n for n in names if n not in ACTIVATIONS.values() and n not in preferred]
    tail = [n for n in PAU_FAMILY if n in names]
    return known + extra + tail


def activation_order(registry_names) -> list[str]:
    """Registry names of activations in the paper's row order (see ``order_rows``)."""
    names = {display(ACTIVATIONS, a): a for a in dict.fromkeys(registry_names)}
    return [names[n] for n in order_rows(names, list(ACTIVATIONS.values()))]


def network_order(pairs) -> list[tuple[str, str]]:
    """(dataset, model) registry pairs by dataset, then in the order of ``MODELS``."""
    order = {m: i for i, m in enumerate(MODELS)}
    return sorted(dict.fromkeys(pairs), key=lambda p: (str(p[0]), order.get(p[1], len(order)), str(p[1])))
