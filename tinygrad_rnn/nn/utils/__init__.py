"""Helpers around the layers, with PyTorch's names: ``nn.utils.rnn`` packs variable-length
sequences."""
from . import rnn

__all__ = ["rnn"]
