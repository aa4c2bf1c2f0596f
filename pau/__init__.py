"""pau: Padé Activation Units (Molina, Schramowski, Kersting; ICLR 2020) for PyTorch."""
from . import functional
from .modules import PAU, RPAU

__version__ = "0.1.0"
__all__ = ["PAU", "RPAU", "functional", "__version__"]
