"""tinygrad_rnn: a small reverse-mode autograd on numpy, for learning how backprop through
time really works.

    >>> import tinygrad_rnn as tg
    >>> x = tg.Tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    Tensor([2., 4.], dtype=float32)
"""
from .engine import AnomalyError, Node, graph_nodes, register_backward_hook
from .grad_mode import (current_scope, detect_anomaly, enable_grad, is_grad_enabled, keep_values,
                        no_grad, scope, track_grad_norms)
from .dtypes import result_type
from .tensor import Tensor, cat, lerp, maximum, minimum, stack, where
from .creation import (arange, from_numpy, ones, ones_like, rand, randn, tensor, zeros,
                       zeros_like)
from .serialization import load, save  # torch.save/torch.load; a .npz path: checkpoint format
from .gradcheck import GradcheckError, gradcheck
from .random import get_rng, manual_seed
from numpy import float32, float64, int32, int64  # dtypes, as torch.float32 etc.
from numpy import bool_ as bool  # torch.bool; not in __all__, so `import *` keeps the builtin

__version__ = "0.1.0"

from . import nn, optim, utils  # noqa: E402 - `import tinygrad_rnn as torch; torch.nn.Linear`
from .torch_alias import alias_torch, unalias_torch  # noqa: E402

__all__ = ["Tensor", "Node", "tensor", "zeros", "ones", "zeros_like", "ones_like", "randn", "rand",
           "arange", "cat", "stack", "where", "no_grad", "enable_grad", "is_grad_enabled",
           "detect_anomaly", "AnomalyError", "scope", "current_scope", "graph_nodes",
           "track_grad_norms", "register_backward_hook", "from_numpy", "keep_values",
           "lerp", "maximum", "minimum", "result_type", "gradcheck", "GradcheckError",
           "manual_seed", "get_rng", "save", "load", "alias_torch", "unalias_torch", "float32",
           "float64", "int32", "int64"]
