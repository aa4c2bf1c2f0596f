"""The CUDA backend of the op suites: the registered op on a GPU with compiled Triton
(``make gpu-check`` runs it with TRITON_INTERPRET=0); elsewhere its cases are skipped
and the same Triton kernels run on the CPU under the interpreter ("triton")."""
import os

import pytest
import torch

from pau.functional import pau

CUDA = pytest.param("cuda", marks=[
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1",
                       reason="compiled Triton: run with TRITON_INTERPRET=0 (make gpu-check)"),
])


def run_on_cuda(x, a, b, form, g, alpha=0.0, seed=None):
    """(y, grad_x, grad_numerator, grad_denominator) of the op on the GPU, back on the CPU."""
    xs, av, bv = (t.detach().cuda().requires_grad_() for t in (x, a, b))
    y = pau(xs, av, bv, form, alpha=alpha, seed=seed)
    y.backward(g.cuda())
    return tuple(t.cpu() for t in (y.detach(), xs.grad, av.grad, bv.grad))
