"""Functional API: ``pau`` (the fast op) and ``pau_reference`` (the oracle)."""
from .math.reference import pau_reference
from .ops import pau

__all__ = ["pau", "pau_reference"]
