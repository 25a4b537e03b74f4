"""Putting samples together into a batch, as PyTorch's ``default_collate`` and
``default_convert``.

``default_collate`` follows the structure of the first sample: Tensors are stacked along a new
dimension 0; numpy arrays become Tensors and are stacked (string and object arrays are refused);
Python floats become a float64 Tensor, ints an int64 Tensor, bools a bool Tensor, numpy scalars a
Tensor of their own dtype; strings and bytes stay as they are (the batch of them); dicts,
namedtuples, tuples and lists are collated field by field (a tuple gives a list, as PyTorch).
"""
from __future__ import annotations

import collections.abc
import copy

import numpy as np

from ...creation import from_numpy, tensor
from ...tensor import Tensor, stack

_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
          "found {}")


def _refused(dtype: np.dtype) -> bool:
    return dtype.kind in "SaUO"  # byte strings, unicode strings, Python objects


def default_convert(data):
    """What the loader returns per sample when batching is off (``batch_size=None``): numpy
    arrays and numpy scalars become Tensors, containers are converted inside, the rest is kept."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _refused(data.dtype) else from_numpy(data)
    if isinstance(data, (np.bool_, np.number)):
        return tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _same_kind(data, {k: default_convert(data[k]) for k in data})
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _same_kind(data, [default_convert(d) for d in data])
    return data


def default_collate(batch):
    """One batch from a list of samples (see the module docstring for the rules)."""
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if _refused(elem.dtype):
            raise TypeError(_ERROR.format(elem.dtype))
        return default_collate([from_numpy(np.ascontiguousarray(b)) for b in batch])
    if isinstance(elem, (np.bool_, np.number)):
        return tensor(np.array(batch))
    if isinstance(elem, float):
        return tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, bool):
        return tensor(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _same_kind(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, collections.abc.Sequence):
        sizes = [len(e) for e in batch]
        if any(s != sizes[0] for s in sizes):
            raise RuntimeError(f"default_collate: each element in list of batch should be of "
                               f"equal size, got sizes {sizes}")
        return _same_kind(elem, [default_collate(s) for s in zip(*batch)])
    raise TypeError(_ERROR.format(type(elem)))


def _same_kind(like, parts):
    """``parts`` (a dict when ``like`` is a mapping, else a list) in a container of ``like``'s
    kind, as PyTorch rebuilds them: mappings and sequences keep their class when it can be
    rebuilt, namedtuples keep theirs, plain tuples become lists."""
    if isinstance(like, collections.abc.Mapping):
        try:
            if isinstance(like, collections.abc.MutableMapping):
                out = copy.copy(like)
                out.update(parts)
                return out
            return type(like)(parts)
        except TypeError:
            return dict(parts)
    if isinstance(like, tuple):
        return type(like)(*parts) if hasattr(like, "_fields") else list(parts)
    try:
        if isinstance(like, collections.abc.MutableSequence):
            out = copy.copy(like)
            for i, p in enumerate(parts):
                out[i] = p
            return out
        return type(like)(parts)
    except TypeError:
        return list(parts)
