"""Batching one long token stream for truncated backpropagation through time."""
from __future__ import annotations

import numpy as np


def batchify(tokens, batch_size) -> np.ndarray:
    """Cut a 1-D stream into ``batch_size`` contiguous columns: shape (N, B), column b holding
    stream[b·N : (b+1)·N]. The remainder (fewer than B tokens) is dropped."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"batchify: expected a 1-D token stream, got shape {tokens.shape}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batchify: batch_size must be a positive integer, got {batch_size!r}")
    n = len(tokens) // batch_size
    if n < 2:
        raise ValueError(f"batchify: a stream of {len(tokens)} tokens is too short for "
                         f"{batch_size} columns of at least 2 tokens")
    return tokens[: n * batch_size].reshape(batch_size, n).T.copy()


def num_windows(n_steps, seq_len) -> int:
    """How many windows :func:`tbptt_windows` yields for a batched stream of ``n_steps`` rows."""
    return -(-(n_steps - 1) // seq_len)


def tbptt_windows(tokens, seq_len, batch_size=None):
    """Yield (x, y) windows of shape (T ≤ seq_len, B) over a batched stream, in order.

    ``tokens`` is either already (N, B) or 1-D together with ``batch_size``. y is x shifted one
    step ahead (next-token targets), so the target of a window's last step is the next window's
    first input. Every position of each column is an input exactly once (except the last, which
    is only a target). Carry the recurrent state from one window to the next with ``detach()``:
    the forward pass sees the whole history, the gradient only the current window.
    """
    if not isinstance(seq_len, (int, np.integer)) or seq_len <= 0:
        raise ValueError(f"tbptt_windows: seq_len must be a positive integer, got {seq_len!r}")
    data = np.asarray(tokens)
    if batch_size is not None:
        data = batchify(data, batch_size)
    elif data.ndim != 2:
        raise ValueError(f"tbptt_windows: expected a (N, B) array or a 1-D stream with "
                         f"batch_size, got shape {data.shape}")
    for start in range(0, len(data) - 1, seq_len):
        end = min(start + seq_len, len(data) - 1)
        yield data[start:end], data[start + 1:end + 1]
