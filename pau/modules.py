"""``PAU`` and ``RPAU``: drop-in ``nn.Module`` activations."""
from __future__ import annotations

import torch
from torch import nn

from .math.forms import check_form, denominator_length
from .ops import check_alpha, pau

DEFAULT_INIT = "leaky_relu"  # the paper starts every PAU from LReLU(0.01)


def _initial(init, m: int, n: int, form: str):
    if isinstance(init, str):
        from . import init as init_lib

        params = {"negative_slope": 0.01} if init == "leaky_relu" else {}
        return init_lib.coefficients(init, m=m, n=n, form=form, **params)
    if isinstance(init, (tuple, list)) and len(init) == 2:
        return torch.as_tensor(init[0]), torch.as_tensor(init[1])
    raise ValueError(
        "init must be the name of a function (e.g. 'leaky_relu', 'relu', 'tanh') "
        f"or a (numerator, denominator) pair of tensors; got {init!r}"
    )


class PAU(nn.Module):
    """Padé Activation Unit F(x) = P(x)/Q(x) with learnable coefficients.

    Args:
        m, n: numerator and denominator orders.
        form: denominator form, one of A (default, the paper's kernels), B, C, N.
        init: name of the function the coefficients start from, or explicit
            ``(numerator, denominator)`` tensors.
        groups: number of coefficient sets; channels along dim 1 are split into
            this many equal groups.
        inplace: accepted and ignored, as by timm's activations, so that
            ``act_layer=pau.PAU`` works in timm and torchvision constructors (the
            backward pass needs the input, so a PAU never overwrites it).
    """

    def __init__(self, m: int = 5, n: int = 4, form: str = "A", init=DEFAULT_INIT, groups: int = 1,
                 inplace: bool = False):
        super().__init__()
        form = check_form(form)
        if m < 0 or n < 0:
            raise ValueError(f"orders must be >= 0, got m={m}, n={n}")
        if groups < 1:
            raise ValueError(f"groups must be >= 1, got {groups}")
        num, den = _initial(init, m, n, form)
        num = torch.as_tensor(num, dtype=torch.get_default_dtype()).flatten()
        den = torch.as_tensor(den, dtype=torch.get_default_dtype()).flatten()
        if num.numel() != m + 1 or den.numel() != denominator_length(n, form):
            raise ValueError(
                f"initial coefficients have {num.numel()} + {den.numel()} entries; "
                f"m={m}, n={n}, form {form} needs {m + 1} + {denominator_length(n, form)}"
            )
        if groups > 1:
            num, den = num.repeat(groups, 1), den.repeat(groups, 1)
        self.m, self.n, self.form, self.groups = m, n, form, groups
        self.numerator = nn.Parameter(num.clone())
        self.denominator = nn.Parameter(den.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pau(x, self.numerator, self.denominator, self.form)

    def extra_repr(self) -> str:
        return f"m={self.m}, n={self.n}, form={self.form!r}, groups={self.groups}"


class RPAU(PAU):
    """Randomized PAU (Eq. 3): in training, every coefficient used for an element is
    perturbed by U(-alpha|c|, +alpha|c|) noise, drawn per element inside the kernel
    from torch's RNG (so ``torch.manual_seed`` makes it reproducible). In eval mode it
    is the clean PAU.
    """

    def __init__(self, alpha: float = 0.01, m: int = 5, n: int = 4, form: str = "A", init=DEFAULT_INIT,
                 groups: int = 1, inplace: bool = False):
        super().__init__(m=m, n=n, form=form, init=init, groups=groups)
        self.alpha = check_alpha(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.alpha == 0.0:
            return pau(x, self.numerator, self.denominator, self.form)
        seed = torch.randint(0, 2**62, (1,), device=x.device, dtype=torch.int64)
        return pau(x, self.numerator, self.denominator, self.form, alpha=self.alpha, seed=seed)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, " + super().extra_repr()
