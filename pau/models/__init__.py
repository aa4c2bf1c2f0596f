"""The paper's networks (Appendix A.3.1, Table 7; Appendix A.4.2), each built around an activation factory.

    model = create_model("resnet101_cifar", activation="rpau", alpha=0.1)

Every activation site is a separate unit built by the factory; the networks return
logits. ``input_size(name)`` gives the (C, H, W) each network is defined on:
MNIST/Fashion-MNIST digits are resized to 32x32.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..activations import as_act_factory
from .densenet import DenseNetCIFAR
from .mnist import VGG8MNIST, LeNet5
from .mobilenetv2 import MobileNetV2CIFAR, MobileNetV2ImageNet
from .resnet import ResNetCIFAR
from .vgg import VGG8
from .weights import WEIGHT_INITS, init_weights

_MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet": LeNet5,
    "vgg8_mnist": VGG8MNIST,
    "vgg8_cifar": VGG8,
    "mobilenetv2_cifar": MobileNetV2CIFAR,
    "resnet101_cifar": ResNetCIFAR,
    "densenet121_cifar": DenseNetCIFAR,
    "mobilenetv2_imagenet": MobileNetV2ImageNet,
}


def list_models() -> list[str]:
    return list(_MODELS)


def _model_class(name: str):
    key = name.strip().lower()
    if key not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(_MODELS)}")
    return _MODELS[key]


def input_size(name: str) -> tuple[int, int, int]:
    """(channels, height, width) of the inputs the network is defined on."""
    return tuple(_model_class(name).input_size)


def create_model(
    name: str,
    activation="relu",
    num_classes: int | None = None,
    in_channels: int | None = None,
    weight_init: str = "pytorch",
    **activation_kwargs,
) -> nn.Module:
    """Build network ``name`` with ``activation`` at every site.

    ``activation`` is a registered name (``pau.activations.list_activations()``), an
    activation class or partial, or an ``ActivationFactory``; ``activation_kwargs``
    configure it (e.g. ``alpha=0.1`` for rpau, ``hinges=3`` for apl).
    ``num_classes`` defaults to 10 (1000 for ``mobilenetv2_imagenet``) and
    ``in_channels`` to the network's own (1 for the MNIST networks, else 3).
    ``weight_init`` is ``"pytorch"`` (each layer's default) or ``"kaiming"``
    (torchvision's VGG scheme; see ``pau.models.weights``).
    """
    cls = _model_class(name)
    factory = as_act_factory(activation, **activation_kwargs)
    if num_classes is None:
        num_classes = cls.num_classes
    if in_channels is None:
        in_channels = cls.input_size[0]
    return init_weights(cls(factory, num_classes=num_classes, in_channels=in_channels), weight_init)


__all__ = [
    "DenseNetCIFAR",
    "LeNet5",
    "MobileNetV2CIFAR",
    "MobileNetV2ImageNet",
    "ResNetCIFAR",
    "VGG8",
    "VGG8MNIST",
    "WEIGHT_INITS",
    "create_model",
    "init_weights",
    "input_size",
    "list_models",
]
