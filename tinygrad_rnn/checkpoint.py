"""Checkpoints: nested dicts of arrays and numbers in one ``.npz`` file, written atomically and
read without pickle.

``save`` writes the arrays as ``.npz`` entries and the structure (dict keys, lists, tuples,
numbers, strings) as a JSON manifest stored beside them, to a temporary file in the same
folder, flushed to disk, then renamed over the target: a crash leaves the old file or the new
one, never half of one. ``load`` opens it with ``allow_pickle=False``.
"""
from __future__ import annotations

import json
import os
import pathlib
import tempfile
import zipfile

import numpy as np

from .tensor import Tensor

FORMAT = "tinygrad_rnn-checkpoint-1"
_MANIFEST = "__manifest__"


def _encode(obj, arrays, where):
    if isinstance(obj, Tensor):
        obj = obj.array
    if isinstance(obj, (np.ndarray, np.generic)) and not isinstance(obj, (np.str_, np.bytes_)):
        arr = np.asarray(obj)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"save: {where} is an array of dtype {arr.dtype}; only numeric "
                            f"arrays can be stored without pickle")
        name = f"a{len(arrays)}"
        arrays[name] = arr
        return {"__array__": name}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: {where} has a key {k!r}; keys must be str or int")
        return {"__dict__": [[k, _encode(v, arrays, f"{where}[{k!r}]")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        tag = "__list__" if isinstance(obj, list) else "__tuple__"
        return {tag: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"save: cannot store {where} of type {type(obj).__name__} (arrays, Tensors, "
                    f"numbers, strings, None, and dicts/lists/tuples of them only)")


def _decode(node, arrays):
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__dict__" in node:
            return {k: _decode(v, arrays) for k, v in node["__dict__"]}
        if "__list__" in node:
            return [_decode(v, arrays) for v in node["__list__"]]
        if "__tuple__" in node:
            return tuple(_decode(v, arrays) for v in node["__tuple__"])
        raise ValueError(f"unknown manifest entry {sorted(node)}")
    return node


def save(obj, path) -> pathlib.Path:
    """Write ``obj`` (e.g. ``{"model": m.state_dict(), "optimizer": opt.state_dict()}``) to
    ``path`` atomically. Returns the path."""
    path = pathlib.Path(path)
    arrays = {}
    manifest = json.dumps({"format": FORMAT, "root": _encode(obj, arrays, "the object")})
    arrays[_MANIFEST] = np.array(manifest)
    write_atomically(path, lambda f: np.savez(f, **arrays))  # a file object: no ".npz" added
    return path


def write_atomically(path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``:
    a crash or an error midway leaves the old file as it was (and no temporary behind)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint is an ordinary file
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def _check_kind(path):
    """Say what a file is if it is not a checkpoint, instead of numpy's guess (pickle)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":
        raise ValueError(f"load: {path} is not a tinygrad_rnn checkpoint: it is not a zip (.npz) "
                         f"file (it starts with {head!r})")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if any(n.endswith("data.pkl") for n in names):
        raise ValueError(f"load: {path} looks like a PyTorch file (torch.save): it holds pickled "
                         f"data, which this loader never runs; load it with torch.load and pass "
                         f"the state dict's tensors to load_state_dict")
    if _MANIFEST + ".npy" not in names:
        raise ValueError(f"load: {path} is a zip (.npz) file but not a tinygrad_rnn checkpoint "
                         f"(no manifest)")


def load(path):
    """Read a checkpoint written by :func:`save`. A missing file raises FileNotFoundError; a
    corrupt or foreign file raises ValueError saying what is wrong."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    try:
        _check_kind(path)
        with np.load(path, allow_pickle=False) as f:
            manifest = json.loads(str(f[_MANIFEST]))
            arrays = {k: f[k] for k in f.files if k != _MANIFEST}
    except (zipfile.BadZipFile, OSError, EOFError, json.JSONDecodeError) as err:
        raise ValueError(f"load: {path} is not a readable checkpoint (corrupt or truncated?): "
                         f"{err}") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"load: {path} has format {manifest.get('format')!r}, expected {FORMAT!r}")
    return _decode(manifest["root"], arrays)
