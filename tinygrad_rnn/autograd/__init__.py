"""``tinygrad_rnn.autograd``: PyTorch's ``torch.autograd`` names — :func:`grad` (gradients of
outputs with respect to chosen inputs, differentiable again with ``create_graph=True``) and
:mod:`functional` (``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp``, ``vhp``)."""
from . import functional
from .gradients import grad

__all__ = ["grad", "functional"]
