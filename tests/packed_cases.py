"""Variable-length cases run here and in PyTorch (``lib`` is ``tinygrad_rnn`` or ``torch``).

Shared by ``tests/fixtures/make_packed_fixtures.py`` (which stores PyTorch's outputs, final
states and gradients) and ``tests/test_packed.py``. The lengths put the longest possible
sequence (= T) and a length-1 sequence in the same batch; unsorted cases give them out of order.
"""
import itertools

import numpy as np

INPUT, HIDDEN, T = 3, 4, 5
SORTED_LENGTHS, UNSORTED_LENGTHS = [5, 4, 2, 1], [2, 5, 1, 4]

CASES = {
    f"{kind}-l{layers}-{'bi' if bi else 'uni'}-{'bf' if bf else 'tf'}-{'sorted' if srt else 'unsorted'}":
        dict(kind=kind, layers=layers, bidirectional=bi, batch_first=bf, sorted=srt)
    for kind, layers, bi, bf, srt in itertools.product(("RNN", "LSTM", "GRU"), (1, 2),
                                                      (False, True), (False, True), (True, False))
}


def lengths_of(case):
    return SORTED_LENGTHS if case["sorted"] else UNSORTED_LENGTHS


def make_arrays(case, seed=0):
    """Input (padded with garbage, so padding that leaked in would show), h_0 (and c_0) in the
    caller's batch order, and random weights for the loss."""
    rng = np.random.default_rng(seed)
    B, D = len(lengths_of(case)), 2 if case["bidirectional"] else 1
    shape = (B, T, INPUT) if case["batch_first"] else (T, B, INPUT)
    arrays = {"x": rng.standard_normal(shape) * 3,
              "h0": rng.standard_normal((case["layers"] * D, B, HIDDEN)),
              "w_out": rng.standard_normal(shape[:2] + (D * HIDDEN,)),
              "w_h": rng.standard_normal((case["layers"] * D, B, HIDDEN))}
    if case["kind"] == "LSTM":
        arrays["c0"] = rng.standard_normal((case["layers"] * D, B, HIDDEN))
        arrays["w_c"] = rng.standard_normal((case["layers"] * D, B, HIDDEN))
    return arrays


def run(lib, utils, layer, case, t):
    """Pack ``t['x']``, run ``layer`` with the initial state, unpack; returns (padded output,
    lengths, h_n, c_n or None, the scalar loss)."""
    packed = utils.pack_padded_sequence(t["x"], lengths_of(case), batch_first=case["batch_first"],
                                        enforce_sorted=case["sorted"])
    lstm = case["kind"] == "LSTM"
    out, state = layer(packed, (t["h0"], t["c0"]) if lstm else t["h0"])
    padded, lengths = utils.pad_packed_sequence(out, batch_first=case["batch_first"],
                                                total_length=T)
    h_n, c_n = state if lstm else (state, None)
    loss = (padded * t["w_out"]).sum() + (h_n * t["w_h"]).sum()
    if lstm:
        loss = loss + (c_n * t["w_c"]).sum()
    return padded, lengths, h_n, c_n, loss
