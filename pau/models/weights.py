"""Weight initialisation schemes for the networks (the paper does not state one).

``"pytorch"`` keeps each layer's own default (what the paper's public code ran with:
Kaiming-uniform with a = sqrt(5), i.e. weight std 1/sqrt(3 fan_in), biases uniform in
+-1/sqrt(fan_in)). Without normalisation layers that default shrinks the signal at
every convolution, so a deep stack such as the MNIST VGG-8 starts with logits that
barely depend on the image.

``"kaiming"`` is torchvision's VGG initialisation (``torchvision.models.vgg``): He
normal with fan_out and the ReLU gain for convolutions, N(0, 0.01) for linear layers,
zero biases; normalisation layers keep weight 1 and bias 0.
"""
from __future__ import annotations

from torch import nn

WEIGHT_INITS = ("pytorch", "kaiming")


def init_weights(model: nn.Module, scheme: str = "pytorch") -> nn.Module:
    """Re-initialise the convolutions and linear layers of ``model`` by ``scheme`` (in place)."""
    if scheme not in WEIGHT_INITS:
        raise ValueError(f"unknown weight_init {scheme!r}; valid names: {', '.join(WEIGHT_INITS)}")
    if scheme == "pytorch":
        return model
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
        else:
            continue
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    return model
