"""Neural-network building blocks with PyTorch's names: ``Module``, layers, recurrent cells and
layers, attention and the Transformer, losses, ``functional`` and ``init``."""
from . import functional, init, utils
from .activation import GELU, LeakyReLU, LogSoftmax, Softmax, Softplus
from .layers import (BatchNorm1d, Dropout, Embedding, Flatten, Identity, LayerNorm, Linear,
                     ModuleDict, ModuleList, ReLU, Sequential, Sigmoid, Tanh)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from .transformer import (MultiheadAttention, Transformer, TransformerDecoder,
                          TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer)
from . import modules  # torch.nn.modules.* import paths

__all__ = ["functional", "init", "utils", "modules", "Module", "Parameter", "Linear", "Embedding",
           "Dropout", "LayerNorm", "BatchNorm1d", "Sequential", "ModuleList", "ModuleDict",
           "Identity", "Flatten", "Tanh", "ReLU", "Sigmoid", "LeakyReLU", "GELU", "Softplus",
           "Softmax", "LogSoftmax", "NLLLoss", "CrossEntropyLoss", "MSELoss", "L1Loss", "BCELoss",
           "BCEWithLogitsLoss", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNN", "LSTM", "GRU",
           "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
           "TransformerDecoderLayer", "TransformerDecoder", "Transformer"]
