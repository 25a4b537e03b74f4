"""Synthetic sequence tasks with a known answer. Arrays are time-major, (T, B, ...), as the
recurrent layers expect by default."""
from __future__ import annotations

import numpy as np


def as_rng(rng) -> np.random.Generator:
    """A Generator from a Generator, an int seed, or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_positive(fn, **values):
    for name, v in values.items():
        if not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"{fn}: {name} must be a positive integer, got {v!r}")


def adding_problem(batch_size, seq_len, rng=None, variant="le2015", dtype=np.float32):
    """The adding problem: read a sequence of (value, marker) pairs, output the sum of the two
    marked values.

    Returns x of shape (seq_len, batch_size, 2) — channel 0 the values, channel 1 the markers —
    and y of shape (batch_size, 1).

    ``variant="le2015"`` (Le, Jaitly & Hinton 2015): values ~ U[0, 1]; exactly one marker (1.0)
    in the first half [0, T//2) and one in the second half [T//2, T); y = the sum of the two
    marked values. y has mean 1 and variance 1/6, so always answering 1 scores MSE 1/6 ≈ 0.167.

    ``variant="hochreiter1997"`` (Hochreiter & Schmidhuber 1997): values ~ U[-1, 1]; the first
    marked position is among the first 10 steps, the second among the first T/2 - 1 (a different
    one); the marker channel is 1 at the marked steps, -1 at the first and last steps when they
    are not marked, 0 elsewhere; y = 0.5 + (X1 + X2) / 4, in [0, 1]. (For T < 22 the windows are
    clamped to the first half of the sequence.)
    """
    _check_positive("adding_problem", batch_size=batch_size, seq_len=seq_len)
    if seq_len < 2:
        raise ValueError(f"adding_problem: seq_len must be at least 2, got {seq_len}")
    rng = as_rng(rng)
    rows = np.arange(batch_size)
    x = np.zeros((seq_len, batch_size, 2))
    if variant == "le2015":
        half = seq_len // 2
        x[:, :, 0] = rng.uniform(0.0, 1.0, (seq_len, batch_size))
        first = rng.integers(0, half, batch_size)
        second = rng.integers(half, seq_len, batch_size)
    elif variant == "hochreiter1997":
        x[:, :, 0] = rng.uniform(-1.0, 1.0, (seq_len, batch_size))
        window = max(min(seq_len // 2 - 1, seq_len), 2)
        first = rng.integers(0, min(10, window - 1), batch_size)
        # a second position in [0, window), different from the first
        second = rng.integers(0, window - 1, batch_size)
        second = second + (second >= first)
        x[0, :, 1] = -1.0
        x[-1, :, 1] = -1.0
    else:
        raise ValueError(f"adding_problem: unknown variant {variant!r} "
                         f"(expected 'le2015' or 'hochreiter1997')")
    x[first, rows, 1] = 1.0
    x[second, rows, 1] = 1.0
    total = x[first, rows, 0] + x[second, rows, 0]
    y = total if variant == "le2015" else 0.5 + total / 4.0
    return x.astype(dtype), y.reshape(batch_size, 1).astype(dtype)


def copy_task(batch_size, seq_len, n_symbols=8, delay=None, rng=None):
    """The copy (memory) task: remember ``seq_len`` symbols across ``delay`` blank steps.

    Tokens: 0 = blank, 1..n_symbols = symbols, n_symbols + 1 = the delimiter "recall now";
    vocabulary size n_symbols + 2. Input: the symbols, then ``delay`` blanks (default seq_len),
    then the delimiter, then seq_len - 1 blanks. Target: blank everywhere except the last
    seq_len steps, which hold the symbols. Both (seq_len + delay + seq_len, batch_size), int64.

    Baseline: predicting blanks and then a uniform guess costs
    seq_len·log(n_symbols) / total_len nats per step.
    """
    _check_positive("copy_task", batch_size=batch_size, seq_len=seq_len, n_symbols=n_symbols)
    delay = seq_len if delay is None else delay
    if not isinstance(delay, (int, np.integer)) or delay < 0:
        raise ValueError(f"copy_task: delay must be a non-negative integer, got {delay!r}")
    rng = as_rng(rng)
    total = 2 * seq_len + delay
    symbols = rng.integers(1, n_symbols + 1, (seq_len, batch_size))
    x = np.zeros((total, batch_size), dtype=np.int64)
    y = np.zeros((total, batch_size), dtype=np.int64)
    x[:seq_len] = symbols
    x[seq_len + delay] = n_symbols + 1
    y[total - seq_len:] = symbols
    return x, y


def fill_in_blank_task(batch_size, seq_len, n_symbols=8, rng=None):
    """A task that needs the *future*: one position holds a mask token, and the answer is the
    symbol right after it.

    Tokens: 1..n_symbols symbols, n_symbols + 1 the mask (vocabulary n_symbols + 2). Returns
    tokens (seq_len, batch_size), target (batch_size,) and the mask position (batch_size,), all
    int64. Reading left to right, a model at the mask has not yet seen the answer, so a one-way
    RNN's output there is at chance (1/n_symbols); a bidirectional one has read it.
    """
    _check_positive("fill_in_blank_task", batch_size=batch_size, seq_len=seq_len,
                    n_symbols=n_symbols)
    if seq_len < 2:
        raise ValueError(f"fill_in_blank_task: seq_len must be at least 2, got {seq_len}")
    rng = as_rng(rng)
    tokens = rng.integers(1, n_symbols + 1, (seq_len, batch_size))
    position = rng.integers(0, seq_len - 1, batch_size)
    rows = np.arange(batch_size)
    target = tokens[position + 1, rows].copy()
    tokens[position, rows] = n_symbols + 1
    return tokens.astype(np.int64), target.astype(np.int64), position.astype(np.int64)
