"""``tinygrad_rnn.autograd``: PyTorch's ``torch.autograd`` names — ``Function`` (user-defined ops)."""
from .function import Function, FunctionCtx

__all__ = ["Function", "FunctionCtx"]
