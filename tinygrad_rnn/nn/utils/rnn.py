"""Variable-length sequences, PyTorch's way: pad a list of sequences into one tensor, pack a
padded batch so recurrent layers skip the padding, and unpack their output.

A ``PackedSequence`` holds the batch *time-major, without padding*: sort the sequences by
decreasing length; then ``data`` is step 0 of every sequence, then step 1 of every sequence
still running, and so on, and ``batch_sizes[t]`` is how many sequences are longer than t::

    lengths 3, 1, 2 (a, b, c)  →  sorted a, c, b  →  data = a0 c0 b0 | a1 c1 | a2
                                                       batch_sizes = [3, 2, 1]

``sorted_indices[k]`` is the original batch index of the k-th longest sequence and
``unsorted_indices`` is its inverse (both ``None`` when the batch came sorted). Packing and
unpacking are ordinary indexing ops, so gradients flow through them (zero at the padding).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ... import Tensor, cat

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pack_sequence",
           "pad_packed_sequence"]


class PackedSequence(NamedTuple):
    """``data`` (N, *) with N = sum of the lengths; ``batch_sizes`` (T,) int64, non-increasing;
    ``sorted_indices`` / ``unsorted_indices`` (B,) int64 or None. Build one with
    ``pack_padded_sequence`` or ``pack_sequence`` rather than by hand."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor] = None
    unsorted_indices: Optional[Tensor] = None


def _ints(x) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def _index_tensor(a) -> Tensor:
    return Tensor(np.asarray(a, dtype=np.int64))


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def pad_sequence(sequences, batch_first=False, padding_value=0.0) -> Tensor:
    """Stack sequences of shapes (L_i, *) into (T, B, *) (``batch_first``: (B, T, *)) with
    T = max L_i, filling the rest with ``padding_value``."""
    seqs = [_as_tensor(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: expected a non-empty list of sequences")
    tail = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.ndim == 0 or s.shape[1:] != tail:
            raise ValueError(f"pad_sequence: every sequence must have shape (L, *{tail}); "
                             f"sequence {i} has shape {s.shape} "
                             f"(all shapes: {[t.shape for t in seqs]})")
    lengths = np.array([s.shape[0] for s in seqs])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    steps = np.arange(lengths.max())[:, None]
    pad_row = int(lengths.sum())  # the padding row comes after all real rows
    index = np.where(steps < lengths[None, :], starts[None, :] + steps, pad_row)  # (T, B)
    fill = Tensor(np.full((1, *tail), padding_value, dtype=seqs[0].dtype))
    rows = cat([*seqs, fill], 0)
    return rows[index.T if batch_first else index]


def _check_lengths(fn, lengths, batch, steps, shape, batch_first, enforce_sorted) -> np.ndarray:
    arr = _ints(lengths)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{fn}: lengths must be a 1-d list, array or Tensor of integers, got "
                         f"{arr.dtype} of shape {arr.shape}")
    arr = arr.astype(np.int64)
    if len(arr) != batch:
        raise ValueError(f"{fn}: got {len(arr)} lengths for a batch of {batch} sequences "
                         f"(input shape {shape}, batch_first={batch_first})")
    if batch == 0:
        raise ValueError(f"{fn}: cannot pack an empty batch (input shape {shape})")
    if arr.min() <= 0:
        raise ValueError(f"{fn}: every length must be at least 1, got lengths {arr.tolist()}")
    if arr.max() > steps:
        raise ValueError(f"{fn}: length {arr.max()} is longer than the input's {steps} time "
                         f"steps (input shape {shape}, batch_first={batch_first})")
    if enforce_sorted and np.any(np.diff(arr) > 0):
        raise ValueError(f"{fn}: lengths {arr.tolist()} must be sorted in decreasing order when "
                         f"enforce_sorted=True; pass enforce_sorted=False to have them sorted")
    return arr


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) whose b-th sequence has
    ``lengths[b]`` steps. ``lengths`` may be a list, a numpy array or a Tensor. With
    ``enforce_sorted=True`` they must be non-increasing; otherwise the batch is sorted here and
    ``sorted_indices`` / ``unsorted_indices`` record the permutation."""
    x = _as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected input of shape "
                         f"{'(B, T, *)' if batch_first else '(T, B, *)'}, got shape {x.shape}")
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
    lens = _check_lengths("pack_padded_sequence", lengths, batch, steps, x.shape, batch_first,
                          enforce_sorted)
    if enforce_sorted:
        order, sorted_indices, unsorted_indices = np.arange(batch), None, None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices, unsorted_indices = _index_tensor(order), _index_tensor(np.argsort(order))
    batch_sizes = (lens[order][None, :] > np.arange(lens.max())[:, None]).sum(1)
    # One gather picks every active (step, sequence) pair in packed order.
    time_idx = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    batch_idx = np.concatenate([order[:n] for n in batch_sizes])
    data = x[batch_idx, time_idx] if batch_first else x[time_idx, batch_idx]
    return PackedSequence(data, _index_tensor(batch_sizes), sorted_indices, unsorted_indices)


def pack_sequence(sequences, enforce_sorted=True) -> PackedSequence:
    """Pack a list of sequences (L_i, *): ``pad_sequence`` then ``pack_padded_sequence``."""
    lengths = [_as_tensor(s).shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of ``pack_padded_sequence``: returns ``(padded, lengths)`` with padded
    (T, B, *) (``batch_first``: (B, T, *)) in the original batch order, T = the longest length
    or ``total_length``, and lengths an int64 Tensor (B,)."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got "
                        f"{type(sequence).__name__}")
    data, batch_sizes, _, unsorted_indices = sequence
    sizes = _ints(batch_sizes).astype(np.int64)
    steps = len(sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than "
                             f"the longest sequence ({steps} steps)")
        steps = int(total_length)
    batch, n = int(sizes[0]), data.shape[0]
    if int(sizes.sum()) != n:
        raise ValueError(f"pad_packed_sequence: batch_sizes sum to {int(sizes.sum())} but data "
                         f"has {n} rows (shape {data.shape})")
    sizes = np.concatenate([sizes, np.zeros(steps - len(sizes), np.int64)])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    col = np.arange(batch)[None, :]
    index = np.where(col < sizes[:, None], starts[:, None] + col, n)  # row n: the padding row
    lengths = (sizes[:, None] > col).sum(0)
    if unsorted_indices is not None:
        perm = _ints(unsorted_indices)
        index, lengths = index[:, perm], lengths[perm]
    fill = Tensor(np.full((1, *data.shape[1:]), padding_value, dtype=data.dtype))
    padded = cat([data, fill], 0)[index.T if batch_first else index]
    return padded, _index_tensor(lengths)
