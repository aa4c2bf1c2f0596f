"""pau: Padé Activation Units (Molina, Schramowski, Kersting; ICLR 2020) for PyTorch."""
import importlib

from . import functional
from .modules import PAU, RPAU

__version__ = "0.1.0"
__all__ = [
    "PAU", "RPAU", "calculate_gain", "functional", "plot_activations", "replace_activations", "__version__",
]

# Heavier layers load on first use: `import pau` stays as light as the op itself.
_SUBPACKAGES = {"activations", "models", "init", "fit", "convert", "plot", "cache"}
_FUNCTIONS = {
    "replace_activations": "convert",
    "plot_activations": "plot",
    "calculate_gain": "init",
}


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f".{_FUNCTIONS[name]}", __name__), name)
    raise AttributeError(f"module 'pau' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBPACKAGES | set(_FUNCTIONS))
