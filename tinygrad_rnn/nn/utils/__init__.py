"""Utilities with PyTorch's names: ``nn.utils.rnn`` for variable-length sequences."""
from . import rnn

__all__ = ["rnn"]
