"""PyTorch's function forms of Tensor methods: ``torch.exp(x)`` is ``x.exp()``,
``torch.bmm(a, b)`` is ``a.bmm(b)``, and so on. Each is the method itself, looked up on the first
argument's Tensor, so there is one implementation (and one docstring) per operation."""
from __future__ import annotations

from .tensor import Tensor, _lift

# torch.<name>(input, *args, **kwargs) == input.<name>(*args, **kwargs)
_METHODS = ("exp", "log", "tanh", "sin", "cos", "sigmoid", "relu", "sqrt", "rsqrt", "abs", "neg", "square",
            "pow", "add", "sub", "mul", "div", "clamp", "clip", "softmax", "log_softmax", "sum",
            "mean", "std", "var", "norm", "max", "min", "amax", "argmax", "argmin", "all", "any",
            "matmul", "mm", "bmm", "baddbmm", "addmm", "topk", "sort", "narrow", "index_select",
            "gather", "transpose", "permute", "reshape", "flatten", "squeeze", "unsqueeze",
            "split", "chunk", "unbind", "t", "masked_fill", "eq", "ne", "lt", "le", "gt", "ge",
            "numel", "clone", "detach", "expand_as", "tril", "triu")


def _function(name):
    method = getattr(Tensor, name)

    def function(input, *args, **kwargs):
        return getattr(_lift(input), name)(*args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``torch.{name}(input, …)`` = ``input.{name}(…)``.\n\n" + (method.__doc__ or "")
    return function


for _name in _METHODS:
    globals()[_name] = _function(_name)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(t) -> bool:
    return t.dtype.kind == "f"


def numel(t) -> int:
    return t.numel()


__all__ = [*_METHODS, "is_tensor", "is_floating_point"]
