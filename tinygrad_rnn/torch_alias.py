"""``import torch`` resolving to this package, so a PyTorch program runs here unchanged.

:func:`alias_torch` puts a finder on ``sys.meta_path`` that answers every ``torch`` and
``torch.X`` import with a *torch module*: a thin module object that looks its attributes up in
this package's module of the same place (``torch.nn`` → ``tinygrad_rnn.nn``,
``torch.utils.data`` → ``tinygrad_rnn.utils.data``), then in a few torch-only entries kept here
(``torch.cuda.is_available()`` is False, ``torch.compile`` returns its argument). A torch module
this package lacks (``torch.onnx``, ``torch.jit``, ``torch.distributed``…) is a stub: importable,
and each attribute either one of the entries here or an error naming the torch API and the
nearest thing that exists (:class:`~tinygrad_rnn.errors.TorchAPIUnavailable`, a
NotImplementedError). Nothing is added to this package's own modules.

``python -m tinygrad_rnn run SCRIPT`` installs the alias before running SCRIPT; in a notebook,
call ``tinygrad_rnn.alias_torch()`` before the first ``import torch``. :func:`surface_markdown`
writes the table of what runs unchanged, what differs and what is refused (README's table); ``update_readme("README.md")`` rewrites it there.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings

import numpy as np

from .errors import CUDAUnavailable, MissingTorchAttribute, TorchAPIUnavailable

# torch module → this package's module; a torch module below one of these maps to the same
# path below its target (torch.nn.modules.rnn → tinygrad_rnn.nn.modules.rnn) when that exists.
MODULES = {
    "torch": "tinygrad_rnn",
    "torch.nn": "tinygrad_rnn.nn",
    "torch.optim": "tinygrad_rnn.optim",
    "torch.utils": "tinygrad_rnn.utils",
    "torch.autograd": "tinygrad_rnn.autograd",
    "torch.serialization": "tinygrad_rnn.serialization",
    "torch.random": "tinygrad_rnn.random",
    "torch.cuda": "tinygrad_rnn.cuda",
}

# torch modules whose missing names are looked up in another of this package's modules
# (PyTorch defines nn.Linear in torch/nn/modules/linear.py; here it is in tinygrad_rnn.nn).
LOOK_ALSO_IN = {
    "torch.nn.modules": "tinygrad_rnn.nn",
    "torch.nn.parameter": "tinygrad_rnn.nn",
}

# Single torch names that live elsewhere here: (torch module, name) → "module:name".
ELSEWHERE = {
    ("torch.nn.utils", "clip_grad_norm_"): "tinygrad_rnn.optim:clip_grad_norm_",
    ("torch.nn.utils", "clip_grad_value_"): "tinygrad_rnn.optim:clip_grad_value_",
    ("torch.nn.utils.clip_grad", "clip_grad_norm_"): "tinygrad_rnn.optim:clip_grad_norm_",
    ("torch.nn.utils.clip_grad", "clip_grad_value_"): "tinygrad_rnn.optim:clip_grad_value_",
    ("torch", "Generator"): "tinygrad_rnn.random:Generator",
    ("torch", "randperm"): "tinygrad_rnn.random:randperm",
    ("torch", "default_generator"): "tinygrad_rnn.random:default_generator",
    ("torch", "initial_seed"): "tinygrad_rnn.random:initial_seed",
    ("torch", "seed"): "tinygrad_rnn.random:seed",
    ("torch", "get_rng_state"): "tinygrad_rnn.random:get_rng_state",
    ("torch", "set_rng_state"): "tinygrad_rnn.random:set_rng_state",
    ("torch.autograd", "detect_anomaly"): "tinygrad_rnn:detect_anomaly",
    ("torch.autograd", "gradcheck"): "tinygrad_rnn:gradcheck",
    ("torch.autograd", "gradgradcheck"): "tinygrad_rnn:gradgradcheck",
    ("torch.autograd", "no_grad"): "tinygrad_rnn:no_grad",
    ("torch.autograd", "enable_grad"): "tinygrad_rnn:enable_grad",
}

# The torch modules README's table shows (besides the stubs).
TABLE_MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.utils",
                 "torch.nn.utils.rnn", "torch.optim", "torch.optim.lr_scheduler",
                 "torch.utils.data", "torch.autograd", "torch.serialization")

# Names of this package that are not PyTorch's (left out of the "runs unchanged" table).
OWN_NAMES = {"Node", "scope", "current_scope", "graph_nodes", "track_grad_norms",
             "register_backward_hook", "keep_values", "get_rng", "GradcheckError",
             "AnomalyError", "total_grad_norm", "alias_torch", "unalias_torch", "RNNBase",
             "checkpoint", "data", "viz", "explorer", "errors", "engine", "ops", "models",
             "train", "demo", "diagnostics", "progress", "torch_alias",
             # PyTorch has these elsewhere (ELSEWHERE lists them there)
             "clip_grad_norm_", "clip_grad_value_", "detect_anomaly", "gradcheck",
             "gradgradcheck",  # torch.autograd's
             "FunctionCtx",  # torch.autograd.function's
             "DeviceError",  # this package's error for CUDA asked for
             "jit", "CaptureError",  # tg.jit captures and replays a step (torch.jit: a stub)
             "expand_as"}  # a Tensor method only, in PyTorch


# ---------------------------------------------------------------- torch-only entries

def _false(*args, **kwargs):
    return False


def _zero(*args, **kwargs):
    return 0


def _nothing(*args, **kwargs):
    return None


def _passthrough(api, why):
    """``api(x, ...)`` returns x, with a warning (shown once per calling line, as Python's
    warnings are) saying why that is faithful here."""

    def passthrough(obj=None, *args, **kwargs):
        warnings.warn(f"{api}: returns its argument unchanged on this engine ({why})",
                      stacklevel=2)
        if obj is None:  # used as @torch.compile(mode=...) with arguments
            return lambda fn: fn
        return obj
    passthrough.__name__ = api.rsplit(".", 1)[-1]
    passthrough.__doc__ = f"{api}: the argument itself ({why})."
    return passthrough


def _variable(data, requires_grad=False, volatile=False):
    """torch.autograd.Variable (PyTorch < 0.4): a Tensor sharing ``data``'s memory, detached."""
    t = data.detach()
    if requires_grad:
        t.requires_grad_(True)
    return t


class _LegacyTensorType(type):
    """``torch.LongTensor`` and friends: ``isinstance(x, torch.LongTensor)`` checks the dtype."""

    def __instancecheck__(cls, obj):
        from .tensor import Tensor
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


def _legacy_tensor_type(name, dtype):
    def __new__(cls, *args):
        from . import tensor, zeros

        if len(args) == 1 and not isinstance(args[0], int):
            return tensor(np.asarray(args[0]), dtype=cls.dtype)  # from data
        return zeros(*args, dtype=cls.dtype)  # a size: zero-filled (PyTorch: uninitialised)
    return _LegacyTensorType(name, (), {"__new__": __new__, "dtype": np.dtype(dtype),
                                        "__doc__": f"torch.{name}(data) or torch.{name}(*size)"})


# (torch module, name) → (value, what differs). Used only when this package has no such name.
DIFFERS = {
    ("torch", "compile"): (
        _passthrough("torch.compile", "PyTorch promises the compiled model computes what the "
                     "model computes; here every call runs op by op"),
        "returns the model or function unchanged (a warning says so): it computes the same"),
    ("torch", "set_num_threads"): (_nothing, "accepted and ignored (numpy chooses its threads)"),
    ("torch", "get_num_threads"): (lambda: 1, "returns 1"),
    ("torch", "use_deterministic_algorithms"): (
        _nothing, "accepted and ignored: every op here is deterministic"),
    ("torch", "set_float32_matmul_precision"): (_nothing, "accepted and ignored"),
    ("torch", "LongTensor"): (_legacy_tensor_type("LongTensor", "int64"),
                              "legacy constructor: from data, or zero-filled of a size (PyTorch "
                              "leaves it uninitialised); isinstance checks the dtype"),
    ("torch", "FloatTensor"): (_legacy_tensor_type("FloatTensor", "float32"),
                               "as LongTensor, float32"),
    ("torch", "DoubleTensor"): (_legacy_tensor_type("DoubleTensor", "float64"),
                                "as LongTensor, float64"),
    ("torch.autograd", "Variable"): (_variable, "PyTorch < 0.4's wrapper: returns "
                                                "data.detach(), requiring grad if asked"),
    ("torch.jit", "script"): (
        _passthrough("torch.jit.script", "TorchScript keeps Python's meaning of the code; here "
                     "the code runs as Python"),
        "returns its argument unchanged (a warning says so): the same computation, not compiled"),
    ("torch.jit", "ignore"): (lambda fn=None, **kw: fn if fn is not None else (lambda f: f),
                              "a decorator that changes nothing"),
    ("torch.jit", "unused"): (lambda fn: fn, "a decorator that changes nothing"),
    ("torch.cuda", "is_available"): (_false, "False: this engine has no GPU"),
    ("torch.cuda", "device_count"): (_zero, "0"),
    ("torch.cuda", "manual_seed"): (_nothing, "does nothing (no CUDA generator to seed), as "
                                    "PyTorch without a GPU"),
    ("torch.cuda", "manual_seed_all"): (_nothing, "does nothing, as PyTorch without a GPU"),
    ("torch.cuda", "empty_cache"): (_nothing, "does nothing"),
    ("torch.backends.cudnn", "is_available"): (_false, "False"),
    ("torch.backends.cudnn", "enabled"): (True, "a flag that may be set; ignored"),
    ("torch.backends.cudnn", "deterministic"): (False, "a flag that may be set; ignored"),
    ("torch.backends.cudnn", "benchmark"): (False, "a flag that may be set; ignored"),
    ("torch.backends.mps", "is_available"): (_false, "False"),
    ("torch.backends.mps", "is_built"): (_false, "False"),
    ("torch.accelerator", "is_available"): (_false, "False"),
    ("torch.accelerator", "current_accelerator"): (_nothing, "None"),
}

# Names this package has that do not behave exactly as PyTorch's (README's "differs" column).
_SAVE_NOTE = ("pickles in this engine's own file format (PyTorch's files are refused with what to "
              "do, and PyTorch cannot read these); a path ending in .npz gets the npz checkpoint")
_LOAD_NOTE = ("an allow-list unpickler: tensors, numpy arrays, containers, this package's and the "
              "running script's nn.Module classes, add_safe_globals; weights_only=False adds "
              "module classes of modules already imported, never arbitrary code")
DIFFERENT = {("torch", "save"): _SAVE_NOTE, ("torch", "load"): _LOAD_NOTE,
             ("torch.serialization", "save"): _SAVE_NOTE,
             ("torch.serialization", "load"): _LOAD_NOTE}

_SEE_GRAPH = ("to look at the model's graph here, use tinygrad_rnn.viz.draw_graph(loss) or "
              "`python -m tinygrad_rnn run --graph graph.svg SCRIPT`")
_ONE_CPU = "this engine runs in one process on the CPU: call the model itself"

# torch APIs refused with a pointer to the nearest thing here. "torch.cuda.*": every other name.
REFUSED = {
    "torch.onnx.export": "ONNX export needs PyTorch: torch.save(model.state_dict(), path), load "
                         "it into the same model in PyTorch and export there; " + _SEE_GRAPH,
    "torch.onnx.*": "ONNX export needs PyTorch; " + _SEE_GRAPH,
    "torch.jit.trace": "a trace freezes the control flow of the traced call, and this engine "
                       "does not record traces: call the model or function itself",
    "torch.jit.save": "save the weights with torch.save(model.state_dict(), path)",
    "torch.jit.load": "load weights saved with torch.save(model.state_dict(), path)",
    "torch.jit.*": "TorchScript is not implemented here; the code runs as plain Python",
    "torch.cuda.*": "this engine runs on numpy on the CPU; use device \"cpu\" (torch.device("
                    "\"cuda\" if torch.cuda.is_available() else \"cpu\") picks it)",
    "torch.nn.DataParallel": _ONE_CPU,
    "torch.nn.parallel.*": _ONE_CPU,
    "torch.distributed.*": _ONE_CPU,
    "torch.multiprocessing.*": "use Python's multiprocessing with numpy arrays",
    "torch.hub.*": "download the weights in PyTorch, save {name: tensor.numpy()} with numpy "
                   "(np.savez) and load them with load_state_dict",
    "torch.fx.*": "this engine records its own graph: tinygrad_rnn.graph_nodes(loss), "
                  "tinygrad_rnn.viz.draw_graph(loss)",
    "torch.profiler.*": "time steps with time.perf_counter; benchmarks/op_profile.py profiles "
                        "a training step op by op",
    "torch.utils.tensorboard.*": "print or save the losses (tinygrad_rnn.train writes "
                                 "metrics.json)",
    "torch.amp.*": "mixed precision needs a GPU; everything here is float32 or float64",
    "torch.cuda.amp.*": "mixed precision needs a GPU; everything here is float32 or float64",
}

# torch modules that exist only as stubs here (importable; their names are REFUSED or DIFFERS).
STUBS = ("torch.onnx", "torch.jit", "torch.cuda", "torch.cuda.amp", "torch.backends",
         "torch.backends.cudnn", "torch.backends.mps", "torch.accelerator", "torch.nn.parallel",
         "torch.distributed", "torch.multiprocessing", "torch.hub", "torch.fx",
         "torch.profiler", "torch.utils.tensorboard", "torch.amp")


def _refusal(api):
    """The hint for torch API ``api`` (its own entry, else its module's ``.*`` entry)."""
    if api in REFUSED:
        return REFUSED[api]
    parts = api.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        hint = REFUSED.get(".".join(parts[:cut]) + ".*")
        if hint is not None:
            return hint
    return None


def _error_class(api):
    return CUDAUnavailable if api.startswith("torch.cuda.") and not \
        api.startswith("torch.cuda.amp.") else TorchAPIUnavailable


def _refused_object(api, hint):
    """A stand-in for a refused torch API: importable, and raising when used. A class name gives
    a class (so ``class MyNet(nn.DataParallel)`` still defines), anything else a function."""
    error = _error_class(api)
    message = f"{api} is not available on this engine: {hint}"

    def refuse(*args, **kwargs):
        raise error(message)
    name = api.rsplit(".", 1)[-1]
    if name[:1].isupper():
        return type(name, (), {"__init__": refuse, "__doc__": message,
                               "__module__": api.rsplit(".", 1)[0]})
    refuse.__name__, refuse.__qualname__, refuse.__doc__ = name, name, message
    return refuse


# ---------------------------------------------------------------- torch modules

class TorchModule(types.ModuleType):
    """``torch.X`` as a PyTorch program sees it: the attributes of this package's module
    ``target`` (None for a stub), then of ``also`` (another module of this package), then the
    torch-only entries in :data:`DIFFERS` and :data:`REFUSED`; anything else raises
    :class:`~tinygrad_rnn.errors.MissingTorchAttribute` naming the nearest name that exists."""

    def __init__(self, name, target=None, also=None):
        super().__init__(name, target.__doc__ if target is not None else
                         f"{name}: not implemented on this engine (a stub; see README, "
                         f"'Run your PyTorch program here')")
        self.__path__ = []  # a package, so `import torch.nn.utils.rnn` goes on to its children
        self.__dict__["_tg_target"] = target
        self.__dict__["_tg_also"] = also

    def __getattr__(self, name):
        if name.startswith("__"):  # module machinery asks for these; only two are torch's
            if name in ("__version__", "__all__") and self._tg_target is not None:
                return getattr(self._tg_target, name)
            raise AttributeError(name)
        torch_name = f"{self.__name__}.{name}"
        if torch_name in STUBS or torch_name in MODULES:  # torch.jit is a module, whatever
            return importlib.import_module(torch_name)   # this package calls `jit`
        if (self.__name__, name) in ELSEWHERE:
            module, _, attr = ELSEWHERE[(self.__name__, name)].partition(":")
            value = self.__dict__[name] = getattr(importlib.import_module(module), attr)
            return value
        for source in (self._tg_target, self._tg_also):
            if source is None:
                continue
            try:
                value = getattr(source, name)
            except AttributeError:
                continue
            if isinstance(value, types.ModuleType) and \
                    value.__name__ == f"{source.__name__}.{name}":
                return importlib.import_module(torch_name)  # its torch module, not the raw one
            self.__dict__[name] = value  # found once; a plain attribute from now on
            return value
        if (self.__name__, name) in DIFFERS:
            value = DIFFERS[(self.__name__, name)][0]
            self.__dict__[name] = value
            return value
        if torch_name in STUBS or torch_name in MODULES or _maps_to(torch_name) is not None:
            return importlib.import_module(torch_name)
        hint = _refusal(torch_name)
        if hint is not None and torch_name in REFUSED:
            value = _refused_object(torch_name, hint)
            self.__dict__[name] = value
            return value
        if hint is None:
            hint = _nearest(self, name)
        error = _error_class(torch_name)
        if error is CUDAUnavailable:
            raise CUDAUnavailable(f"{torch_name} is not available on this engine: {hint}")
        raise MissingTorchAttribute(f"{torch_name} is not available on this engine: {hint}")

    def __dir__(self):
        names = set(self.__dict__)
        for source in (self._tg_target, self._tg_also):
            if source is not None:
                names.update(n for n in dir(source) if not n.startswith("_"))
        names.update(n for (mod, n) in [*DIFFERS, *ELSEWHERE] if mod == self.__name__)
        return sorted(names)

    def __repr__(self):
        target = self._tg_target
        return f"<torch module {self.__name__!r} → " + \
            (f"{target.__name__!r}>" if target is not None else "stub>")


def _nearest(module, name):
    names = [n for n in dir(module) if not n.startswith("_") and n not in OWN_NAMES
             and not isinstance(getattr(module._tg_target, n, None), types.ModuleType)]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return "the nearest names here are " + ", ".join(f"{module.__name__}.{n}" for n in close)
    if module._tg_target is None:
        return f"{module.__name__} is only a stub here"
    return (f"{module._tg_target.__name__} has no such name (README, 'Run your PyTorch program "
            f"here', lists what exists)")


def _maps_to(torch_name):
    """This package's module for ``torch_name`` (a name string), or None. Below ``torch`` itself
    only the packages in MODULES map by path (``torch.optim.X`` → ``tinygrad_rnn.optim.X``):
    ``torch.data`` is not ``tinygrad_rnn.data``."""
    parent = torch_name
    while parent:
        if parent in MODULES and (parent != "torch" or torch_name == "torch"):
            candidate = MODULES[parent] + torch_name[len(parent):]
            return candidate if _exists(candidate) else None
        parent = parent.rpartition(".")[0]
    return None


def _exists(module_name):
    if module_name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def _look_also(torch_name):
    for prefix, also in LOOK_ALSO_IN.items():
        if torch_name == prefix or torch_name.startswith(prefix + "."):
            return importlib.import_module(also)
    return None


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``import torch`` and ``import torch.X`` with a :class:`TorchModule`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        name = spec.name
        target = _maps_to(name)
        module = TorchModule(name, importlib.import_module(target) if target else None,
                             _look_also(name))
        return module

    def exec_module(self, module):
        pass


_finder = _Finder()


def alias_torch() -> None:
    """Make ``import torch`` (and every ``torch.X``) resolve to this package, in this process.

    Call it before the first ``import torch`` (in a notebook: in the first cell). If the real
    PyTorch is imported already, this raises instead of mixing the two."""
    real = sys.modules.get("torch")
    if real is not None and not isinstance(real, TorchModule):
        raise RuntimeError("alias_torch: the real PyTorch is imported in this process already; "
                           "call alias_torch() before the first `import torch` (restart the "
                           "kernel or the interpreter)")
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def unalias_torch() -> None:
    """Undo :func:`alias_torch`: forget the torch modules made so far and remove the finder."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n, m in sys.modules.items() if isinstance(m, TorchModule)]:
        del sys.modules[name]


def is_aliased() -> bool:
    return _finder in sys.meta_path


# ---------------------------------------------------------------- the table for README

def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_")
                 and getattr(v, "__module__", "").startswith(module.__name__)
                 and not isinstance(v, types.ModuleType)]
    return sorted(n for n in names if n not in OWN_NAMES
                  and not isinstance(getattr(module, n, None), types.ModuleType))


def surface() -> list:
    """Rows ``(torch module, here, runs unchanged, differs, refused)`` of the torch surface:
    the first names what resolves to this package's modules as PyTorch has it, the second the
    torch-only entries of this alias, the third what raises."""
    rows = []
    torch_names = sorted(set(TABLE_MODULES) | set(STUBS) | {m for m, _ in DIFFERS}
                         | {api.rsplit(".", 1)[0] for api in REFUSED})
    for torch_name in torch_names:
        target = _maps_to(torch_name)
        same = []
        if target is not None:
            try:
                same = _public_names(importlib.import_module(target))
            except ImportError:
                target = None  # not built yet: the module is a stub for now
        same = sorted(set(same) | {n for (m, n) in ELSEWHERE if m == torch_name})
        notes = {n: note for (m, n), (_, note) in DIFFERS.items() if m == torch_name}
        notes.update({n: note for (m, n), note in DIFFERENT.items() if m == torch_name})
        differs = [f"`{n}`: {note}" for n, note in sorted(notes.items())
                   if n not in same or (torch_name, n) in DIFFERENT]
        same = [n for n in same if (torch_name, n) not in DIFFERENT]
        refused = sorted((api[len(torch_name) + 1:] for api in REFUSED
                          if api.rsplit(".", 1)[0] == torch_name), key=lambda r: (r == "*", r))
        if target is None and "*" not in refused:
            refused.append("*")  # a stub: every name not listed raises
        rows.append((torch_name, target, same, differs, refused))
    return rows


def surface_markdown() -> str:
    """The README table (see :func:`surface`), one row per torch module."""
    lines = ["| `import` | resolves to | runs unchanged | differs | refused "
             "(`NotImplementedError` naming what to use; so is any name not in this table) |",
             "|---|---|---|---|---|"]
    for torch_name, target, same, differs, refused in surface():
        here = f"`{target}`" if target else "stub"
        lines.append("| `{}` | {} | {} | {} | {} |".format(
            torch_name, here, ", ".join(f"`{n}`" for n in same) or "—",
            "; ".join(differs) or "—",
            ", ".join("everything else" if r == "*" else f"`{r}`" for r in refused) or "—"))
    return "\n".join(lines) + "\n"


README_BEGIN = "<!-- torch surface: generated by tinygrad_rnn.torch_alias.surface_markdown() -->"
README_END = "<!-- end of torch surface -->"


def readme_table(readme_text) -> str:
    """The generated table as it stands in README (between the two markers), or ''."""
    start, end = readme_text.find(README_BEGIN), readme_text.find(README_END)
    if start < 0 or end < start:
        return ""
    return readme_text[start + len(README_BEGIN):end].strip("\n") + "\n"


def update_readme(path) -> bool:
    """Rewrite the table in README at ``path``; returns whether it changed."""
    import pathlib

    path = pathlib.Path(path)
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"update_readme: {path} has no {README_BEGIN!r} … {README_END!r} markers")
    new = text[:start] + README_BEGIN + "\n" + surface_markdown() + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
