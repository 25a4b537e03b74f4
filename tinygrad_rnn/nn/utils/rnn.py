"""Variable-length sequences, PyTorch's way: pad a list of sequences, pack a padded batch so a
recurrent layer runs each sequence only for its own length, and unpack the result.

A :class:`PackedSequence` stores the batch *time-major and sorted by length*: ``data`` holds, for
t = 0, 1, …, the rows of the ``batch_sizes[t]`` sequences still running at step t (longest
first). Every function here is one or two primitive ops (an index gather, a ``cat``), so
gradients flow through packing and unpacking, and padding positions get exactly zero.

    padded (T, B, I), lengths [5, 3, 1]
      → pack_padded_sequence → data (9, I), batch_sizes [3, 2, 2, 1, 1]
      → nn.LSTM → PackedSequence of h, and h_n at each sequence's own last step
      → pad_packed_sequence → (T, B, H) with zeros after each sequence's end, and the lengths
"""
from __future__ import annotations

import numpy as np

from ...tensor import Tensor, cat


class PackedSequence:
    """``data`` (N, *) Tensor, ``batch_sizes`` (T,) int64 Tensor, and the permutation that
    sorted the batch by decreasing length (``sorted_indices``; ``unsorted_indices`` undoes it),
    both None when the batch came sorted."""

    __slots__ = ("data", "batch_sizes", "sorted_indices", "unsorted_indices")

    def __init__(self, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        self.data = data
        self.batch_sizes = _int_tensor(batch_sizes)
        self.sorted_indices = None if sorted_indices is None else _int_tensor(sorted_indices)
        if unsorted_indices is None and self.sorted_indices is not None:
            unsorted_indices = np.argsort(self.sorted_indices.array)
        self.unsorted_indices = None if unsorted_indices is None else _int_tensor(unsorted_indices)

    def __iter__(self):  # unpacks like PyTorch's namedtuple
        return iter((self.data, self.batch_sizes, self.sorted_indices, self.unsorted_indices))

    def to(self, *args, **kwargs):
        return PackedSequence(self.data.to(*args, **kwargs), self.batch_sizes,
                              self.sorted_indices, self.unsorted_indices)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def __repr__(self):
        return (f"PackedSequence(data={tuple(self.data.shape)}, batch_sizes="
                f"{self.batch_sizes.array.tolist()}, sorted_indices="
                f"{None if self.sorted_indices is None else self.sorted_indices.array.tolist()})")


def _int_tensor(x):
    data = x.array if isinstance(x, Tensor) else x
    return Tensor(np.asarray(data, dtype=np.int64))


def _lengths(lengths, op):
    data = lengths.array if isinstance(lengths, Tensor) else lengths
    out = np.asarray(data)
    if out.ndim == 1 and out.size == 0:
        raise ValueError(f"{op}: got no lengths; a packed batch needs at least one sequence")
    if out.ndim != 1 or out.dtype.kind not in "iu":
        raise ValueError(f"{op}: lengths must be a 1-d list of integers, got {data!r}")
    return out.astype(np.int64)


def _pad_row(like, value):
    """A constant (1, *) row of ``value`` to gather padding from."""
    return Tensor(np.full((1,) + tuple(like.shape[1:]), value, dtype=like.dtype))


def pad_sequence(sequences, batch_first=False, padding_value=0.0):
    """Stack sequences of shapes (L_i, *) into (T, B, *) (``batch_first``: (B, T, *)), T = max L_i,
    filling the rest with ``padding_value``."""
    seqs = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: expected a non-empty list of sequences")
    if any(s.ndim == 0 or s.shape[1:] != seqs[0].shape[1:] for s in seqs):
        raise ValueError(f"pad_sequence: sequences must have shapes (L, *) with the same trailing "
                         f"dims, got {[tuple(s.shape) for s in seqs]}")
    lengths = np.array([s.shape[0] for s in seqs])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total, T = int(lengths.sum()), int(lengths.max())
    t = np.arange(T)[:, None]
    index = np.where(t < lengths[None, :], starts[None, :] + t, total)  # total: the padding row
    rows = cat([*seqs, _pad_row(seqs[0], padding_value)], 0)
    out = rows[index]
    return out.transpose(0, 1) if batch_first else out


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) whose sequence b has
    ``lengths[b]`` valid steps. With ``enforce_sorted`` the lengths must already decrease;
    otherwise the batch is sorted here and :func:`pad_packed_sequence` (and the recurrent layers'
    h_n) give it back in the original order."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    lengths = _lengths(lengths, "pack_padded_sequence")
    if x.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected input of shape (T, B, *), got {x.shape}")
    shape = tuple(x.shape)
    if batch_first:
        x = x.transpose(0, 1)
    T, B = x.shape[0], x.shape[1]
    if len(lengths) != B:
        raise ValueError(f"pack_padded_sequence: {len(lengths)} lengths for a batch of {B} "
                         f"(input shape {shape}, batch_first={batch_first})")
    if (lengths <= 0).any():
        raise ValueError(f"pack_padded_sequence: every length must be at least 1, got "
                         f"{lengths.tolist()}")
    if lengths.max() > T:
        raise ValueError(f"pack_padded_sequence: a length of {lengths.max()} is longer than the "
                         f"{T} time steps of the input (shape {shape}, "
                         f"batch_first={batch_first})")
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise ValueError(f"pack_padded_sequence: lengths {lengths.tolist()} are not in "
                             f"decreasing order; sort the batch or pass enforce_sorted=False")
        order, sorted_indices = np.arange(B), None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = order
    sorted_lengths = lengths[order]
    batch_sizes = np.array([(sorted_lengths > t).sum() for t in range(sorted_lengths[0])])
    # One gather: for each step t, the rows of the sequences still running, longest first.
    rows = np.concatenate([t * B + order[:n] for t, n in enumerate(batch_sizes)])
    data = x.reshape((T * B,) + tuple(x.shape[2:]))[rows]
    return PackedSequence(data, batch_sizes, sorted_indices)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences of shapes (L_i, *) (decreasing L_i unless ``enforce_sorted`` is
    False)."""
    lengths = [len(s) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo :func:`pack_padded_sequence`: returns (padded (T, B, *) Tensor — (B, T, *) with
    ``batch_first`` —, lengths as an int64 Tensor), the batch in its original order. T is the
    longest length, or ``total_length`` if given."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got "
                        f"{type(sequence).__name__}")
    data, sizes = sequence.data, sequence.batch_sizes.array
    if len(sizes) == 0 or sizes.sum() != data.shape[0]:
        raise ValueError(f"pad_packed_sequence: batch_sizes {sizes.tolist()} do not add up to the "
                         f"{data.shape[0]} rows of data {tuple(data.shape)}")
    T, B = len(sizes), int(sizes[0])
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than "
                             f"the longest sequence ({T} steps)")
        T_out = int(total_length)
    else:
        T_out = T
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sorted_lengths = np.array([(sizes > s).sum() for s in range(B)])
    position = (np.arange(B) if sequence.unsorted_indices is None
                else sequence.unsorted_indices.array)  # where original b sits in the sorted batch
    t = np.arange(T_out)[:, None]
    valid = t < sorted_lengths[position][None, :]
    index = np.where(valid, offsets[np.minimum(t, T - 1)] + position[None, :], data.shape[0])
    out = cat([data, _pad_row(data, padding_value)], 0)[index]
    lengths = Tensor(sorted_lengths[position].astype(np.int64))
    return (out.transpose(0, 1) if batch_first else out), lengths
