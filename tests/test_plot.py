"""pau.plot_activations: the learned units of a model as a matplotlib figure."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from torch import nn

import pau
from pau.plot import noise_band


def model_with_units():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), pau.PAU(groups=2), nn.Conv2d(4, 4, 3), pau.RPAU(alpha=0.1, init="tanh"))


def test_one_panel_per_unit_drawing_its_function():
    model = model_with_units()
    fig = pau.plot_activations(model, x_range=(-4, 4), points=101, title="learned")
    assert isinstance(fig, Figure) and fig._suptitle.get_text() == "learned"
    panels = fig.axes[:2]
    x = torch.linspace(-4, 4, 101, dtype=torch.float64)
    # PAU with two coefficient sets: one line per group, each the unit's function on that group's channels.
    unit = model[1].double().eval()
    assert len(panels[0].lines) == 2
    with torch.no_grad():
        y = unit(x.reshape(1, 1, -1).expand(1, 4, -1).contiguous())[0]
    for g, line in enumerate(panels[0].lines):
        np.testing.assert_allclose(line.get_xdata(), x.numpy())
        np.testing.assert_allclose(line.get_ydata(), y[2 * g].numpy(), rtol=1e-6, atol=1e-6)
    assert "RPAU α=0.1" in panels[1].get_title() and "PAU" in panels[0].get_title()


def test_the_rpau_band_holds_every_noisy_output():
    unit = pau.RPAU(alpha=0.1, init="tanh").double()
    x = torch.linspace(-5, 5, 201, dtype=torch.float64)
    lo, hi = noise_band(unit.numerator.detach(), unit.denominator.detach(), "A", 0.1, x)
    unit.train()
    with torch.no_grad():
        draws = torch.stack([unit(x) for _ in range(200)])  # per-element noise, drawn in the kernel
    assert (draws >= lo - 1e-9).all() and (draws <= hi + 1e-9).all()
    assert (hi - lo).max() > 0.05  # the band is not empty
    fig = pau.plot_activations(unit, x_range=(-5, 5), points=201)
    (band,) = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    vertices = band.get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(lo.min().item()) and vertices[:, 1].max() == pytest.approx(hi.max().item())


def test_a_batch_adds_each_units_input_histogram():
    model = model_with_units()
    batch = torch.randn(8, 1, 10, 10)
    fig = pau.plot_activations(model, batch, x_range=(-5, 5))
    histograms = fig.axes[2:]
    assert len(histograms) == 2
    with torch.no_grad():
        seen = model[0](batch)
    counts = sum(p.get_height() for p in histograms[0].patches)
    assert counts == int(((seen >= -5) & (seen <= 5)).sum())
    assert model.training, "the model's mode is restored"


def test_matplotlib_loads_only_when_drawing_and_chooses_no_backend():
    code = (
        "import sys, torch, pau, pau.plot\n"
        "assert 'matplotlib' not in sys.modules\n"
        "fig = pau.plot_activations(pau.RPAU())\n"
        "fig.savefig(sys.argv[1])\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", code, f"{tmp}/units.png"], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "False"
        with open(f"{tmp}/units.png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_nothing_to_draw_says_how_to_get_units():
    with pytest.raises(ValueError, match="no PAU or RPAU unit.*replace_activations"):
        pau.plot_activations(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    with pytest.raises(ValueError, match="lo < hi"):
        pau.plot_activations(pau.PAU(), x_range=(1, -1))
