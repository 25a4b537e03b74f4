"""In-place changes: which memory was overwritten after a recorded op saved it.

A VJP may save an array that an in-place op overwrites later; its gradient would then be silently
wrong. So one clock orders both events: every Node takes its id from :func:`tick` when it is
recorded, and every in-place write notes the memory it changed with a later tick. Backward
refuses a node whose saved memory changed after the node's id. Views share memory with their
base, so a change through any of them counts (PyTorch gets the same effect from version counters
shared by views).
"""
from __future__ import annotations

import itertools
import weakref

import numpy as np

tick = itertools.count().__next__  # the clock: node ids and change times, one sequence

changed = {}  # id(array that owns the memory) -> (weak reference to it, tick of the change)
last_change = -1  # the tick of the latest write: a node recorded after it saw no write at all


def _owner(array):
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def note_change(array):
    """Record that ``array``'s memory (and so every view of it) was just overwritten."""
    global last_change
    owner = _owner(array)
    last_change = tick()
    changed[id(owner)] = (weakref.ref(owner), last_change)
    if len(changed) > 10_000:  # forget memory that no longer exists
        for key in [k for k, (ref, _) in changed.items() if ref() is None]:
            del changed[key]


def changed_since(array, stamp) -> bool:
    """Was ``array``'s memory overwritten after tick ``stamp``?"""
    owner = _owner(array)
    entry = changed.get(id(owner))
    return entry is not None and entry[1] > stamp and entry[0]() is owner
