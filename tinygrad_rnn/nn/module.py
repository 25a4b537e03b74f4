"""``Module`` and ``Parameter``: the PyTorch way of holding weights, on this package's Tensor.

A Module registers Parameters and sub-Modules when they are assigned as attributes, which gives
``named_parameters()`` its dotted names (``encoder.weight_ih_l0``) and ``state_dict()`` its keys.
Calling a module runs ``forward`` inside a scope named after it, so every graph node records
which module made it.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .. import devices
from ..grad_mode import scope
from ..creation import from_numpy
from ..tensor import Tensor, as_numpy


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as a weight. Requires grad by default."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.array if isinstance(data, Tensor) else data,
                         requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer. Subclasses set attributes in ``__init__`` and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_scope_name", None)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               f"attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            self._buffers[name] = None if value is None else np.array(as_numpy(value))
            return
        if name in self._parameters and not isinstance(value, Parameter) and value is not None:
            raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as "
                            f"parameter '{name}' (nn.Parameter or None expected); to change its "
                            f"numbers, write into .array under no_grad()")
        # a replaced parameter or submodule keeps its place in the order (as PyTorch's)
        keep = self._parameters if isinstance(value, Parameter) else \
            self._modules if isinstance(value, Module) else None
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        if keep is not None:
            self.__dict__.pop(name, None)  # a plain attribute of that name would shadow it
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            if value._scope_name is None:
                object.__setattr__(value, "_scope_name", name)
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the registries (parameters first: a
        # recurrent cell reads its weights at every time step).
        d = self.__dict__
        if name in d.get("_parameters", ()):
            return d["_parameters"][name]
        for registry in ("_buffers", "_modules"):
            if name in d.get(registry, ()):
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name, array):
        """A state array that is saved in ``state_dict`` but is not trained (BatchNorm statistics)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = None if array is None else np.asarray(array)

    # ------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        with scope(self._scope_name or type(self).__name__.lower()):
            return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ traversal
    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every descendant, depth first."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def named_parameters(self, prefix="", recurse=True):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def _named_everywhere(self, prefix=""):
        """(dotted name, module) under *every* name a module is registered as — a submodule used
        twice appears twice, as in PyTorch's ``state_dict`` (``named_modules`` lists it once)."""
        stack = [(prefix, self, ())]
        while stack:
            name, module, path = stack.pop()
            yield name, module
            children = [(f"{name}.{n}" if name else n, m, path + (id(module),))
                        for n, m in module._modules.items()
                        if m is not None and id(m) not in path + (id(module),)]  # no cycles
            stack.extend(reversed(children))

    def named_buffers(self, prefix=""):
        for mod_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    # ------------------------------------------------------------ modes and dtypes
    def zero_grad(self, set_to_none=True):
        """Set every parameter's ``.grad`` to None (PyTorch's default), or to zeros in place."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.array[...] = 0

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def to(self, *args, dtype=None, device=None, non_blocking=False):
        """``to(dtype)`` converts every floating parameter and buffer (and gradient), in place;
        ``to(device)`` accepts only the CPU (``tinygrad_rnn.devices``), as ``Tensor.to``."""
        for a in args:
            if devices.is_device(a):
                device = a
            else:
                dtype = a
        devices.check(f"{type(self).__name__}.to", device)
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        for p in self.parameters():
            p.array = p.array.astype(dtype)
            if p.grad is not None:
                p.grad = p.grad.to(dtype)
        for m in self.modules():
            for name, b in m._buffers.items():
                if b is not None and b.dtype.kind == "f":
                    m._buffers[name] = b.astype(dtype)
        return self

    def cpu(self):
        return self

    def cuda(self, device=None):
        devices.check(f"{type(self).__name__}.cuda", "cuda" if device is None else device)

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # ------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """{dotted name: tensor}, parameters then buffers of each module, in registration order,
        with PyTorch's names. As in PyTorch the tensors are detached and *share* memory with the
        module (``copy.deepcopy(model.state_dict())`` keeps a snapshot); ``np.asarray(v)`` or
        ``v.numpy()`` gives the array."""
        out = OrderedDict()
        for mod_name, module in self._named_everywhere():
            for name, p in module._parameters.items():
                if p is not None:
                    out[f"{mod_name}.{name}" if mod_name else name] = p.detach()
            for name, b in module._buffers.items():
                if b is not None:
                    out[f"{mod_name}.{name}" if mod_name else name] = from_numpy(b)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters and buffers (keeping their dtype).

        Values may be numpy arrays, Tensors, or anything with ``__array__`` (a torch tensor).
        With ``strict``, missing and unexpected keys are errors; a shape mismatch always is.
        All problems are reported together in one ``ValueError``. Returns
        ``IncompatibleKeys(missing_keys, unexpected_keys)`` (both empty when strict).
        """
        targets = OrderedDict()
        for mod_name, module in self._named_everywhere():
            for kind in ("_parameters", "_buffers"):
                for name, value in getattr(module, kind).items():
                    if value is not None:
                        targets[f"{mod_name}.{name}" if mod_name else name] = (module, kind, name)
        problems, arrays, unexpected = [], {}, []
        for key, value in state_dict.items():
            if key not in targets:
                unexpected.append(key)
                if strict:
                    problems.append(f"unexpected key '{key}'")
                continue
            array = as_numpy(value)
            module, kind, name = targets[key]
            current = getattr(module, kind)[name]
            shape = current.shape
            if array.shape != shape:
                problems.append(f"'{key}': shape {array.shape} in the state dict, {shape} in the model")
            arrays[key] = array
        missing = [k for k in targets if k not in state_dict]
        if strict:
            problems += [f"missing key '{k}'" for k in missing]
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for key, array in arrays.items():
            module, kind, name = targets[key]
            if kind == "_parameters":
                module._parameters[name].array[...] = array
            else:
                buf = module._buffers[name]
                module._buffers[name] = array.astype(buf.dtype).reshape(buf.shape)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


IncompatibleKeys = namedtuple("IncompatibleKeys", "missing_keys unexpected_keys")
