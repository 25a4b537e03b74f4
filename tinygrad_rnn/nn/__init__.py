"""Neural-network building blocks with PyTorch's names: ``Module``, layers, recurrent cells and
layers, ``functional`` and ``init``."""
from . import functional, init, utils
from .layers import (BatchNorm1d, Dropout, Embedding, LayerNorm, Linear, ModuleDict, ModuleList,
                     ReLU, Sequential, Sigmoid, Tanh)
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Linear", "Embedding", "Dropout",
           "LayerNorm", "BatchNorm1d", "Sequential", "ModuleList", "ModuleDict", "Tanh", "ReLU",
           "Sigmoid", "RNNCell", "LSTMCell", "GRUCell", "RNNBase",
           "RNN", "LSTM", "GRU"]
