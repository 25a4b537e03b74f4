"""Deferred weight products: a VJP's ``aᵀ @ b`` that the engine sums per leaf, many at a time.

A weight used at every time step (W_hh) gets one gradient product per step, g_tᵀ h_t. Computed
one by one these are T small matrix products; stacked, Σ_t g_tᵀ h_t = [g_1; g_2; …]ᵀ [h_1; h_2; …]
is one large product, which a BLAS runs several times faster for the same work. So a VJP returns
the product unevaluated (:class:`Deferred`), and the engine (``engine.backward``) hands every one
that reaches a leaf to that leaf's :class:`ProductSum`.

The sum stacks a *group* of products at a time, of at most :data:`GROUP_BYTES`, and adds the
group's product into a running total. A few large products are as fast as one, and the rows do
not wait until the end of backward: a 1,000-step LSTM (B=32, H=256) would otherwise hold 160 MB
of gate gradients and stack them into 160 MB more. The grouping depends only on the sequence of
products, so the same products give the same bits however they arrive: a checkpointed backward
and a plain one, an eager step and ``tinygrad_rnn.jit``'s replay of it (which adds into a
ProductSum as the engine does).
"""
from __future__ import annotations

import numpy as np

GROUP_BYTES = 16 << 20  # rows stacked per product: 16 MiB of a and b together


class Deferred:
    """The product ``aᵀ @ b`` (a: (r, m), b: (r, n)), returned by a VJP but not yet computed.
    Where it goes to an op's input the engine computes it at once (:meth:`value`)."""

    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b

    def value(self):
        return self.a.T @ self.b


class ProductSum:
    """Σ aᵢᵀ bᵢ of the Deferreds added, one stacked product per group of :data:`GROUP_BYTES`."""

    __slots__ = ("done", "group", "size")

    def __init__(self):
        self.done, self.group, self.size = None, [], 0

    def add(self, p):
        self.group.append(p)
        self.size += p.a.nbytes + p.b.nbytes
        if self.size >= GROUP_BYTES:
            self._close_group()

    def _close_group(self):
        group = self.group
        if len(group) == 1:
            part = group[0].value()
        else:
            part = np.concatenate([p.a for p in group]).T @ np.concatenate([p.b for p in group])
        if self.done is None:
            self.done = part
        else:
            self.done += part  # ours: made by a product above
        self.group, self.size = [], 0

    def reads(self, array):
        """Does a product still waiting here read ``array``'s memory?"""
        return any(np.may_share_memory(p.a, array) or np.may_share_memory(p.b, array)
                   for p in self.group)

    def value(self):
        """The sum (a new array), closing the group still open."""
        if self.group:
            self._close_group()
        return self.done
