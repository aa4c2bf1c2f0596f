"""The mathematics of a Padé Activation Unit in plain PyTorch.

Everything here is written for clarity, not speed: it is the oracle that the
fused kernels are tested against.
"""
from .forms import FORMS, check_arguments, denominator_length, num_coefficients
from .noise import uniform_noise
from .reference import pau_reference, pau_reference_backward

__all__ = [
    "FORMS",
    "check_arguments",
    "denominator_length",
    "num_coefficients",
    "pau_reference",
    "pau_reference_backward",
    "uniform_noise",
]
