"""Utilities with PyTorch's names: ``utils.checkpoint`` (recompute in backward)."""
from . import checkpoint

__all__ = ["checkpoint"]
