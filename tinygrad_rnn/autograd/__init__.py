"""``tinygrad_rnn.autograd``: PyTorch's ``torch.autograd`` names — :func:`grad` (gradients of
outputs with respect to chosen inputs, differentiable again with ``create_graph=True``),
:mod:`functional` (``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp``, ``vhp``) and
:class:`Function` (user-defined ops with a hand-written backward)."""
from . import functional
from .function import Function, FunctionCtx
from .gradients import grad

__all__ = ["grad", "functional", "Function", "FunctionCtx"]
