"""Synthetic tasks, the standard-library corpus and TBPTT batching."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn import data


def test_adding_problem_le2015_structure():
    x, y = data.adding_problem(500, 20, rng=0)
    assert x.shape == (20, 500, 2) and y.shape == (500, 1) and x.dtype == np.float32
    markers = x[:, :, 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert (markers[:10].sum(0) == 1).all() and (markers[10:].sum(0) == 1).all()
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(0), rtol=1e-6)
    assert x[:, :, 0].min() >= 0 and x[:, :, 0].max() <= 1


def test_adding_problem_baseline_mse_is_one_sixth():
    _, y = data.adding_problem(200_000, 10, rng=1, dtype=np.float64)
    mse = ((y - 1.0) ** 2).mean()
    # y - 1 is a sum of two U[-0.5, 0.5]: var 1/6, the estimate's std ≈ 0.0004 at this size
    assert abs(mse - 1 / 6) < 0.002


def test_adding_problem_hochreiter_form():
    x, y = data.adding_problem(300, 40, rng=2, variant="hochreiter1997")
    markers = x[:, :, 1]
    assert ((markers == 1).sum(0) == 2).all()
    first = np.argmax(markers == 1, axis=0)
    assert (first < 10).all()
    assert ((markers == 1)[19:].sum() == 0)  # both within the first T/2 - 1 steps
    assert ((y >= 0) & (y <= 1)).all()
    total = (x[:, :, 0] * (markers == 1)).sum(0)
    np.testing.assert_allclose(y[:, 0], 0.5 + total / 4, rtol=1e-6)


def test_adding_problem_is_reproducible_and_validates():
    a = data.adding_problem(4, 8, rng=3)[0]
    b = data.adding_problem(4, 8, rng=np.random.default_rng(3))[0]
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="adding_problem: unknown variant 'x'"):
        data.adding_problem(2, 8, variant="x")
    with pytest.raises(ValueError, match="adding_problem: seq_len must be a positive integer"):
        data.adding_problem(2, 0)


def test_copy_task_targets_are_the_inputs():
    x, y = data.copy_task(6, 5, n_symbols=4, delay=3, rng=0)
    assert x.shape == y.shape == (13, 6) and x.dtype == np.int64
    np.testing.assert_array_equal(y[-5:], x[:5])
    assert (y[:-5] == 0).all() and (x[8] == 5).all()
    assert x[:5].min() >= 1 and x[:5].max() <= 4


def test_fill_in_blank_answer_is_the_next_symbol():
    tokens, target, pos = data.fill_in_blank_task(50, 7, n_symbols=5, rng=0)
    rows = np.arange(50)
    assert (tokens[pos, rows] == 6).all()
    np.testing.assert_array_equal(target, tokens[pos + 1, rows])
    assert ((tokens == 6).sum(0) == 1).all()


def test_stdlib_corpus_is_deterministic_ascii_and_large():
    text = data.stdlib_corpus()
    assert len(text) > 50_000
    assert text == data.stdlib_corpus()
    assert all(c == "\n" or 32 <= ord(c) < 127 for c in text)
    assert len(data.stdlib_corpus(max_chars=1000)) == 1000


def test_char_vocab_round_trip_and_errors():
    vocab = data.CharVocab("hello world")
    ids = vocab.encode("low")
    assert vocab.decode(ids) == "low" and vocab.size == 8
    restored = data.CharVocab("".join(vocab.chars))
    np.testing.assert_array_equal(restored.encode("hello"), vocab.encode("hello"))
    with pytest.raises(ValueError, match="character 'z' is not in the vocabulary"):
        vocab.encode("z")


def test_batchify_columns_are_contiguous_pieces():
    b = data.batchify(np.arange(23), 4)
    assert b.shape == (5, 4)
    np.testing.assert_array_equal(b[:, 1], np.arange(5, 10))
    with pytest.raises(ValueError, match="batchify: batch_size must be a positive integer"):
        data.batchify(np.arange(10), 0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(10, 300), batch=st.integers(1, 4), window=st.integers(1, 20))
def test_tbptt_windows_cover_the_stream_once_in_order(n, batch, window):
    stream = np.arange(n)
    columns = data.batchify(stream, batch) if n // batch >= 2 else None
    if columns is None:
        return
    xs, ys = zip(*data.tbptt_windows(stream, window, batch_size=batch))
    x, y = np.concatenate(xs), np.concatenate(ys)
    np.testing.assert_array_equal(x, columns[:-1])  # every position once, in order, no gaps
    np.testing.assert_array_equal(y, columns[1:])   # targets: the next token
    assert all(len(w) <= window for w in xs)
    assert len(xs) == data.num_windows(len(columns), window)
    for a, b in zip(ys, xs[1:]):  # a window's last target is the next window's first input
        np.testing.assert_array_equal(a[-1], b[0])
