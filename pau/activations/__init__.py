"""The activation zoo: PAU, RPAU and the paper's 13 baselines behind one registry.

    act_cls = get_act_layer("lrelu")                  # a class
    unit = create_act_layer("apl", num_channels=64, hinges=3)
    make = as_act_factory("rpau", alpha=0.1)         # builds one unit per call
    make(num_channels=64), make.inputs_per_output

What the baselines' original papers add to training (``training``):
``regularization(model)`` (APL's slope penalty, to add to the loss),
``freeze_srelu(model)`` and ``init_srelu_from_batch(model, x)`` (SReLU's warm-up).
"""
from .parameters import (
    activation_modules,
    activation_parameters,
    count_activation_sites,
    is_activation,
    is_learnable_activation,
    pau_parameters,
    split_parameters,
)
from .registry import (
    ActivationFactory,
    as_act_factory,
    create_act_layer,
    get_act_layer,
    inputs_per_output,
    list_activations,
)
from .training import freeze_srelu, init_srelu_from_batch, regularization
from .units import APL, SLAF, Maxout, Mixture, SReLU

__all__ = [
    "APL",
    "SLAF",
    "ActivationFactory",
    "Maxout",
    "Mixture",
    "SReLU",
    "activation_modules",
    "activation_parameters",
    "as_act_factory",
    "count_activation_sites",
    "create_act_layer",
    "freeze_srelu",
    "get_act_layer",
    "init_srelu_from_batch",
    "inputs_per_output",
    "is_activation",
    "is_learnable_activation",
    "list_activations",
    "pau_parameters",
    "regularization",
    "split_parameters",
]
