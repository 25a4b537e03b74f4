"""Utilities with PyTorch's names: ``utils.data`` (datasets, samplers, ``DataLoader``) and
``utils.checkpoint`` (recompute in backward instead of keeping the graph)."""
from . import checkpoint, data

__all__ = ["checkpoint", "data"]
