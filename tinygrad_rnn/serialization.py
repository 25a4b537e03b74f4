"""``save`` / ``load`` with ``torch.save`` / ``torch.load``'s meaning: any picklable object —
Tensors, dicts, lists, numbers, strings, numpy arrays, whole modules, optimizers' state dicts —
to a path or an open binary file. Loading never runs code it was not meant to run.

Saving
    The object is pickled in memory first (a Tensor as its class, a copy of its array and
    ``requires_grad``; a module as its class and attributes), so an object that cannot be
    pickled fails before anything is written. To a path it goes to a temporary file in the same
    folder, flushed to disk and renamed over the target (a crash leaves the old file or the new
    one); to an open file it is one ``write``. A path ending in ``.npz`` is written in the npz
    checkpoint format of :mod:`tinygrad_rnn.checkpoint` instead (arrays and containers only).

Loading: an allow-list, as PyTorch's ``weights_only=True``
    Unpickling can call any function a file names; :class:`Unpickler` creates only:

    - Python's containers and values (dict, list, tuple, set, OrderedDict, numbers, strings);
    - numpy arrays, dtypes and scalars (the pieces numpy's own pickles name);
    - this package's Tensor classes (through :func:`_rebuild_tensor`, which checks its inputs);
    - this package's ``nn.Module`` subclasses — their code is this package's, and making one
      from a file runs only its ``__init__`` or sets its attributes;
    - ``nn.Module`` subclasses *defined in the running program's* ``__main__`` (the script
      given to ``python -m tinygrad_rnn run`` or ``python``): that code is running anyway, so
      ``torch.save(model, f); torch.load(f)`` works within one program, as in PyTorch's
      examples. Only classes defined there (not names it imported: ``from os import system``
      puts ``system`` in ``__main__`` too), and only Module subclasses;
    - what the program allowed with :func:`add_safe_globals` / ``with safe_globals([...])``
      (PyTorch's names), e.g. a model class from the program's own module.

    Nothing else: not a function (``os.system``, ``builtins.eval``, ``getattr``), not another
    module's class, and nothing is imported to look a name up. ``weights_only=True`` also
    leaves out Module classes (tensors, arrays and containers only); ``weights_only=False``
    adds Module subclasses of modules the program has imported already — never arbitrary
    code, unlike PyTorch. A refused name raises :class:`~tinygrad_rnn.errors.UnsafeLoadError`
    before the object it belongs to is made.

    A file written by PyTorch (a zip with ``data.pkl``, or its legacy format) raises
    :class:`~tinygrad_rnn.errors.TorchFileError` saying how to bring its numbers over; an npz
    checkpoint (zip with a manifest) is read by :func:`tinygrad_rnn.checkpoint.load`. The kind
    of file is decided by its first bytes, never by its name.
"""
from __future__ import annotations

import collections
import contextlib
import io
import os
import pathlib
import pickle
import sys
import tempfile

import numpy as np

from . import checkpoint
from .tensor import Tensor
from .errors import CUDAUnavailable, TorchFileError, UnsafeLoadError

MAGIC = b"tinygrad_rnn pickle 1\n"  # first line of a file written by save
_TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c  # what torch's pre-1.6 format pickles first
DEFAULT_PROTOCOL = 4

# ---------------------------------------------------------------- saving


def _rebuild_tensor(cls, array, requires_grad):
    """Make a ``cls`` Tensor from a saved array (the only function a saved file names)."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise UnsafeLoadError(f"load: a tensor's class must be a Tensor class, got {cls!r}")
    if type(array) is not np.ndarray or array.dtype.kind not in "biufc":
        raise UnsafeLoadError(f"load: a tensor's data must be a numeric numpy array, got "
                              f"{type(array).__name__}")
    if type(requires_grad) is not bool:
        raise UnsafeLoadError("load: a tensor's requires_grad must be True or False")
    if cls is Tensor:
        t = Tensor(array)
        if requires_grad:
            t.requires_grad_(True)
        return t
    return cls(array, requires_grad=requires_grad)  # nn.Parameter (it copies the array)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            return _rebuild_tensor, (type(obj), np.array(obj, copy=True), bool(obj.requires_grad))
        return NotImplemented


def _dumps(obj, protocol):
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    try:
        _Pickler(buffer, protocol=protocol).dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise TypeError(f"save: cannot store {type(obj).__name__}: {err} (functions and "
                        f"classes defined inside functions cannot be pickled; save "
                        f"model.state_dict() instead)") from None
    return buffer.getvalue()


def save(obj, f, pickle_module=None, pickle_protocol=DEFAULT_PROTOCOL,
         _use_new_zipfile_serialization=True):
    """``torch.save``: write ``obj`` to ``f`` (a path, or a file opened ``"wb"``).

    A path is written atomically; a path ending in ``.npz`` gets the npz checkpoint format
    (:func:`tinygrad_rnn.checkpoint.save`). ``pickle_module`` must be None (this module's
    pickler is what makes Tensors portable); ``_use_new_zipfile_serialization`` is accepted
    and ignored."""
    if pickle_module is not None and pickle_module is not pickle:
        raise TypeError("save: pickle_module is not supported (only the standard pickle)")
    if isinstance(f, (str, os.PathLike)) and str(f).endswith(".npz"):
        return checkpoint.save(obj, f)
    data = _dumps(obj, pickle_protocol)
    if isinstance(f, (str, os.PathLike)):
        checkpoint.write_atomically(pathlib.Path(f), lambda out: out.write(data))
    elif hasattr(f, "write"):
        f.write(data)  # one write: nothing half-written by us if pickling had failed
    else:
        raise TypeError(f"save: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")


# ---------------------------------------------------------------- the allow-list

def _numpy_pieces():
    """(module, name) → object for what numpy's pickles of arrays, dtypes and scalars name,
    under numpy 1's and numpy 2's module names."""
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float32(0).__reduce__()[0]
    pieces = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        pieces[(module, "_reconstruct")] = reconstruct
        pieces[(module, "scalar")] = scalar
    for kind in set(np.sctypeDict.values()):
        pieces[("numpy", kind.__name__)] = kind  # numpy.float64 and friends (dtype names)
    dtypes = getattr(np, "dtypes", None)  # numpy 2 pickles some dtypes by their class
    for name in dir(dtypes) if dtypes is not None else ():
        if name.endswith("DType"):
            pieces[("numpy.dtypes", name)] = getattr(dtypes, name)
    return pieces


_ALLOWED = {
    **_numpy_pieces(),
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex, ("builtins", "slice"): slice,
    ("builtins", "range"): range, ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): __import__("codecs").encode,  # how protocol 2 pickles bytes
    (__name__, "_rebuild_tensor"): _rebuild_tensor,
}
# Small value classes of this package a state may hold (when they exist).
_VALUE_CLASSES = {"device", "dtype", "Size", "PackedSequence", "IncompatibleKeys"}

_safe_globals = {}  # (module, qualname) → object, from add_safe_globals


def add_safe_globals(safe_globals):
    """Allow these classes (or ``(obj, "module.name")`` pairs) in :func:`load` — PyTorch's
    ``torch.serialization.add_safe_globals``. Allow only what you trust: loading calls them."""
    for item in safe_globals:
        obj, name = item if isinstance(item, tuple) else (item, None)
        if name is None:
            _safe_globals[(obj.__module__, obj.__qualname__)] = obj
        else:
            module, _, attr = name.rpartition(".")
            _safe_globals[(module, attr)] = obj


def get_safe_globals():
    return list(_safe_globals.values())


def clear_safe_globals():
    _safe_globals.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """``with safe_globals([MyModel]): torch.load(f)`` — allowed inside the block only."""
    before = dict(_safe_globals)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _safe_globals.clear()
        _safe_globals.update(before)


def _module_class():
    from .nn import Module  # the serialization layer sits above nn
    return Module


class Unpickler(pickle.Unpickler):
    """The allow-list unpickler (see the module docstring). ``weights_only``: True (tensors,
    arrays, containers only), None (the default list), False (also Module subclasses of
    modules already imported)."""

    def __init__(self, file, weights_only=None, source="the file"):
        super().__init__(file)
        self.weights_only = weights_only
        self.source = source

    def find_class(self, module, name):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            obj = _safe_globals.get((module, name))
        if obj is None:
            obj = self._allowed_class(module, name)
        if obj is None:
            raise UnsafeLoadError(self._refusal(module, name))
        return obj

    def _allowed_class(self, module, name):
        if "." in name or not name.isidentifier():
            return None  # no attribute paths: "os.system" from some module's namespace
        if module == "tinygrad_rnn" or module.startswith("tinygrad_rnn."):
            mod = sys.modules.get(module)
            if mod is None:
                try:  # this package's own module: importing it runs only this package
                    mod = __import__(module, fromlist=["_"])
                except ImportError:
                    return None
            obj = getattr(mod, name, None)
            if not isinstance(obj, type) or obj.__module__ != module:
                return None
            if issubclass(obj, Tensor) or obj.__name__ in _VALUE_CLASSES:
                return obj
            return obj if self.weights_only is not True and issubclass(obj, _module_class()) \
                else None
        if self.weights_only is True:
            return None
        if module != "__main__" and self.weights_only is not False:
            return None
        mod = sys.modules.get(module)  # never imported here: only what the program has loaded
        obj = getattr(mod, name, None) if mod is not None else None
        if isinstance(obj, type) and obj.__module__ == module and \
                issubclass(obj, _module_class()):
            return obj
        return None

    def _refusal(self, module, name):
        what = f"{module}.{name}"
        text = (f"load: {self.source} asks to create {what}, which load does not create: "
                f"it makes only tensors, numpy arrays, Python containers and numbers, this "
                f"package's nn.Module classes, and nn.Module subclasses defined in the running "
                f"script")
        if self.weights_only is True:
            text = (f"load: {self.source} asks to create {what}; with weights_only=True load "
                    f"makes only tensors, numpy arrays, Python containers and numbers")
        mod = sys.modules.get(module)
        obj = getattr(mod, name, None) if mod is not None and "." not in name else None
        if isinstance(obj, type) and issubclass(obj, _module_class()):
            text += (f". {what} is an nn.Module class of your program: if you trust this file, "
                     f"allow it with torch.serialization.add_safe_globals([{name}]) (or "
                     f"`with torch.serialization.safe_globals([{name}]):`)")
        else:
            text += (". Nothing was run. If the file is yours, save tensors and state dicts "
                     "(model.state_dict()) instead of other objects")
        return text


# ---------------------------------------------------------------- loading

def _read(f):
    if isinstance(f, (str, os.PathLike)):
        path = pathlib.Path(f)
        if not path.exists():
            raise FileNotFoundError(f"load: no checkpoint at {path} (no such file)")
        return path.read_bytes(), str(path)
    if hasattr(f, "read"):
        data = f.read()
        if isinstance(data, str):
            raise TypeError("load: the file is open in text mode; open it with 'rb'")
        return data, getattr(f, "name", "the file")
    raise TypeError(f"load: f must be a path or a binary file object, got {type(f).__name__}")


def _check_map_location(map_location):
    if map_location is None or callable(map_location) and not isinstance(map_location, str):
        return  # a function of (storage, location): every tensor here is on the CPU already
    places = map_location.values() if isinstance(map_location, dict) else [map_location]
    for place in places:
        text = str(place)
        if not (text == "cpu" or text.startswith("cpu:")):
            raise CUDAUnavailable(f"load: map_location={map_location!r}: this engine has the "
                                  f"CPU only; pass map_location='cpu' (or leave it out)")


def load(f, map_location=None, pickle_module=None, weights_only=None, mmap=None,
         **pickle_load_args):
    """``torch.load``: read what :func:`save` wrote (a path or a file opened ``"rb"``), through
    the allow-list :class:`Unpickler`. ``map_location`` may name the CPU only; ``mmap`` and
    ``encoding=`` are accepted and change nothing."""
    if pickle_module is not None and pickle_module is not pickle:
        raise TypeError("load: pickle_module is not supported (only the standard pickle)")
    _check_map_location(map_location)
    data, source = _read(f)
    if data.startswith(b"PK\x03\x04"):
        return _load_zip(f, data, source)
    if data.startswith(MAGIC):
        body = data[len(MAGIC):]
    elif data[:1] == b"\x80":  # a bare pickle (pickle.dump, or PyTorch's legacy format)
        body = data
    else:
        raise ValueError(f"load: {source} is not a tinygrad_rnn checkpoint: it is not a zip "
                         f"(.npz) file nor a pickle written by save (it starts with "
                         f"{data[:16]!r})")
    stream = io.BytesIO(body)
    try:
        obj = Unpickler(stream, weights_only, source).load()
    except (UnsafeLoadError, MemoryError):
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            KeyError) as err:
        raise ValueError(f"load: {source} is not a readable file written by save (corrupt or "
                         f"truncated?): {err}") from None
    if not data.startswith(MAGIC) and obj == _TORCH_LEGACY_MAGIC and \
            type(obj) is int:
        raise TorchFileError(_torch_file_message(source, "PyTorch's legacy format"))
    return obj


def _torch_file_message(source, kind):
    return (f"load: {source} looks like a PyTorch file (torch.save): it was written by PyTorch "
            f"itself ({kind}), whose tensors this engine does not read. Bring the numbers over with numpy: in PyTorch, "
            f"`np.savez('weights.npz', **{{k: v.numpy() for k, v in "
            f"torch.load(f).items()}})` (a state dict; for a whole model use "
            f"model.state_dict()); here, `model.load_state_dict({{k: torch.from_numpy(v) for "
            f"k, v in np.load('weights.npz').items()}})`")


def _load_zip(f, data, source):
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
    except zipfile.BadZipFile:
        names = []  # damaged: checkpoint.load says so
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        raise TorchFileError(_torch_file_message(source, "a zip archive with data.pkl"))
    if isinstance(f, (str, os.PathLike)):
        return checkpoint.load(f)  # an npz checkpoint (checks its manifest)
    fd, tmp = tempfile.mkstemp(suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return checkpoint.load(tmp)
    finally:
        os.remove(tmp)


__all__ = ["save", "load", "add_safe_globals", "get_safe_globals",
           "clear_safe_globals", "safe_globals", "DEFAULT_PROTOCOL"]
