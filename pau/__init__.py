"""pau: Padé Activation Units (Molina, Schramowski, Kersting; ICLR 2020) for PyTorch."""
import importlib

from . import functional
from .modules import PAU, RPAU

__version__ = "0.1.0"
__all__ = ["PAU", "RPAU", "functional", "__version__"]

# Heavier layers load on first use: `import pau` stays as light as the op itself.
_SUBPACKAGES = {"activations", "models", "init", "fit", "repro"}


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pau' has no attribute {name!r}")
