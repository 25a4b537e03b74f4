"""tinygrad_rnn: a small reverse-mode autograd on numpy, for learning how backprop through
time really works.

    >>> import tinygrad_rnn as tg
    >>> x = tg.Tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    Tensor([2., 4.], dtype=float32)

The names follow PyTorch's, so ``import tinygrad_rnn as torch`` (or ``alias_torch()``) lets a
PyTorch program for recurrent nets run here.
"""
from .engine import AnomalyError, Node, register_backward_hook
from .grad_mode import (current_scope, detect_anomaly, enable_grad, is_grad_enabled, keep_values,
                        no_grad, scope, set_grad_enabled, track_grad_norms)
from .dtypes import get_default_dtype, result_type, set_default_dtype
from .devices import DeviceError, device, get_default_device, set_default_device
from .tensor import Tensor, cat, lerp, maximum, minimum, stack, where
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       linspace, multinomial, ones, ones_like, rand, rand_like, randn, randn_like,
                       tensor, zeros, zeros_like)
from .functions import *  # noqa: F401,F403  torch.exp(x), torch.matmul(a, b), … (see functions.py)
from .functions import __all__ as _function_names
import builtins as _builtins
from .serialization import load, save  # torch.save/torch.load; a .npz path: checkpoint format
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import autograd
from .random import (Generator, default_generator, get_rng, get_rng_state, initial_seed,
                     manual_seed, randint, randperm, seed, set_rng_state)
from .jit import CaptureError, jit
from . import cuda, nn, optim, utils  # noqa: E402  (torch.nn, torch.optim … as attributes)
from .graphview import graph_nodes  # noqa: E402
# PyTorch's dtype names are numpy's types (``t.dtype == tg.long``). Not in __all__: `from
# tinygrad_rnn import *` must not rebind the builtins bool, int and float.
from numpy import (bool_ as bool, complex64, complex128, float16, float32, float64, int8, int16,
                   int32, int64, uint8)
from numpy import float16 as half, float32 as float, float64 as double  # noqa: E402
from numpy import int16 as short, int32 as int, int64 as long  # noqa: E402

__version__ = "0.1.0"

from .torch_alias import alias_torch, unalias_torch  # noqa: E402  (import torch → this package)

__all__ = ["Tensor", "Node", "tensor", "zeros", "ones", "zeros_like", "ones_like", "randn", "rand",
           "arange", "cat", "stack", "where", "no_grad", "enable_grad", "is_grad_enabled",
           "set_grad_enabled", "detect_anomaly", "AnomalyError", "scope", "current_scope",
           "graph_nodes", "track_grad_norms", "register_backward_hook", "from_numpy",
           "keep_values", "lerp", "maximum", "minimum", "result_type", "gradcheck",
           "gradgradcheck", "autograd", "GradcheckError", "manual_seed", "get_rng", "save",
           "load", "float16", "float32",
           "float64", "complex64", "complex128", "int8", "int16", "int32", "int64", "uint8",
           "device", "DeviceError", "get_default_device", "set_default_device",
           "get_default_dtype", "set_default_dtype", "as_tensor", "empty", "empty_like", "eye",
           "full", "full_like", "linspace", "multinomial", "rand_like", "randint", "randn_like",
           "Generator", "default_generator", "randperm", "seed", "initial_seed", "get_rng_state",
           "set_rng_state",
           "cuda", "nn", "optim", "utils", "jit", "CaptureError", "alias_torch", "unalias_torch",
           *[n for n in _function_names if not hasattr(_builtins, n)]]  # keep min, max, sum …
