"""As torch.nn.modules.activation."""
from ..activation import GELU, LeakyReLU, LogSoftmax, Softmax, Softplus
from ..layers import ReLU, Sigmoid, Tanh
from ..transformer import MultiheadAttention

__all__ = ["Tanh", "ReLU", "Sigmoid", "LeakyReLU", "GELU", "Softplus", "Softmax", "LogSoftmax",
           "MultiheadAttention"]
