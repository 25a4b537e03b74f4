"""Utilities with PyTorch's names: ``nn.utils.rnn`` for variable-length sequences and gradient
clipping (``nn.utils.clip_grad_norm_``, where PyTorch programs call it; ``optim`` has the same
functions, which its optimizers' ``max_grad_norm`` uses)."""
from ...clip_grad import clip_grad_norm_, clip_grad_value_
from . import clip_grad, rnn

__all__ = ["rnn", "clip_grad", "clip_grad_norm_", "clip_grad_value_"]
