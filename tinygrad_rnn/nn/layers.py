"""Feed-forward layers with PyTorch's names, shapes and default initialisation."""
from __future__ import annotations

import math

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor, where
from . import functional as F
from . import init
from .module import Module, Parameter


def _empty(*shape):
    return Parameter(np.zeros(shape, dtype=np.float32))


class Linear(Module):
    """y = x Wᵀ + b. x: (..., in_features) → y: (..., out_features); W: (out, in), b: (out,).
    Both start as U(-1/√in, 1/√in), as PyTorch."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty(out_features, in_features)
        self.bias = _empty(out_features) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class NonDynamicallyQuantizableLinear(Linear):
    """PyTorch's class of ``MultiheadAttention.out_proj``: a ``Linear`` (its own name exists for
    quantisation, which this engine does not do). Programs name it in ``torch.serialization``
    allow-lists, so the attention uses it too."""


class Embedding(Module):
    """A lookup table: integer indices (...) → rows of ``weight`` (..., embedding_dim), N(0, 1)
    initialised. The row ``padding_idx`` starts at zero and gets no gradient."""


    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None and padding_idx < 0:
            padding_idx += num_embeddings
        self.padding_idx = padding_idx
        self.weight = _empty(num_embeddings, embedding_dim)
        init.normal_(self.weight)
        if padding_idx is not None:
            self.weight.array[padding_idx] = 0

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Inverted dropout in training mode; the identity in eval mode."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}"


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) · weight + bias over the last ``normalized_shape`` dims
    (biased variance, as PyTorch). Composite of primitives."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32))

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class BatchNorm1d(Module):
    """Normalise each feature over the batch: input (N, C) or (N, C, L).

    Training: batch mean and biased variance normalise; the running statistics move by
    ``momentum``: running = (1 - momentum)·running + momentum·batch (the variance unbiased).
    Eval: the running statistics normalise. As PyTorch, including ``num_batches_tracked``.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(num_features, dtype=np.float32))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, x):
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d: expected input (N, {self.num_features}) or "
                             f"(N, {self.num_features}, L), got {x.shape}")
        dims = (0,) if x.ndim == 2 else (0, 2)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
        if self.track_running_stats and x.dtype != self.running_mean.dtype:
            raise TypeError(f"BatchNorm1d: input dtype {x.dtype} does not match the running "
                            f"statistics' dtype {self.running_mean.dtype}; convert the module "
                            f"with .double() / .float() (or the input)")
        n = x.array.size // max(self.num_features, 1)
        if self.training and n <= 1:
            raise ValueError(f"BatchNorm1d: expected more than 1 value per channel when "
                             f"training, got input of shape {x.shape} (a batch statistic of one "
                             f"value has no variance); use eval() or a larger batch")
        if self.training or not self.track_running_stats:
            mean = x.mean(dims, keepdim=True)
            centred = x - mean
            var = (centred * centred).mean(dims, keepdim=True)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean.array.reshape(-1), var.array.reshape(-1), n)
        else:
            centred = x - Tensor(self.running_mean.reshape(shape).astype(x.dtype))
            var = Tensor(self.running_var.reshape(shape).astype(x.dtype))
        y = centred / (var + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y

    def _update_running_stats(self, mean, biased_var, n):
        """running = (1 - m)·running + m·batch, with m = ``momentum``, or m = 1/k for the k-th
        batch when ``momentum=None`` (a cumulative average). The variance goes in unbiased. The
        statistics keep their own dtype whatever the input's."""
        self.num_batches_tracked = self.num_batches_tracked + 1
        m = self.momentum if self.momentum is not None else 1.0 / int(self.num_batches_tracked)
        for name, batch in (("running_mean", mean), ("running_var", biased_var * (n / (n - 1)))):
            old = self._buffers[name]
            self._buffers[name] = ((1 - m) * old + m * batch).astype(old.dtype)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class ModuleList(Module):
    """A list of modules, registered as children "0", "1", … (as PyTorch's)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __setitem__(self, i, module):
        setattr(self, list(self._modules)[i], module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of modules, registered under their keys (as PyTorch's)."""

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (dict(modules or {})).items():
            self[k] = m

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {key!r} must be a Module, got {type(module).__name__}")
        setattr(self, key, module)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class ReLU(Module):
    """max(x, 0); with ``inplace=True`` written into x (see ``F.relu``)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x, self.inplace)


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", … as in PyTorch."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class Identity(Module):
    """Returns its input; any constructor arguments are ignored (as PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """``x.flatten(start_dim, end_dim)``; by default every dim but the batch (the first)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
