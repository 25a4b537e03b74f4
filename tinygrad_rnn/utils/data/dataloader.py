"""``DataLoader``: batches from a dataset in the order of a sampler, as ``torch.utils.data``.

Loading happens in this process. ``num_workers > 0`` is accepted with a warning and loads in
this process too: the sampler runs in PyTorch's main process and batches come back in order, so
the batches are the same (only ``worker_init_fn`` and per-worker random states do not exist here).
``pin_memory``, ``timeout`` and ``prefetch_factor`` are accepted and change nothing.
"""
from __future__ import annotations

import warnings

from ... import random as _random
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler


def get_worker_info():
    """None: there are no worker processes here (PyTorch returns None in the main process too)."""
    return None


class DataLoader:
    """``DataLoader(dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
    num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
    worker_init_fn=None, multiprocessing_context=None, generator=None, *, prefetch_factor=None,
    persistent_workers=False, pin_memory_device="", in_order=True)``.

    Map-style datasets are read through ``sampler`` (``SequentialSampler``, or with
    ``shuffle=True`` a ``RandomSampler`` drawing from ``generator``) and ``batch_size`` indices
    at a time are fetched and put together by ``collate_fn`` (``default_collate``).
    ``batch_size=None`` turns batching off (each sample goes through ``default_convert``).
    Iterable datasets are read in their own order.

    Randomness as PyTorch's: each ``iter(loader)`` first draws an int64 seed from ``generator``
    (or the default generator), then the sampler draws its permutation. So a loader given a
    seeded ``Generator`` yields the same batches as PyTorch's; without one it matches PyTorch
    when the default generators are in the same state (here model initialisation does not draw
    from it, in PyTorch it does).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be a non-negative int; use "
                             f"num_workers=0 to disable multiprocessing, got {num_workers!r}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified with "
                             "num_workers > 0; otherwise leave it None")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if num_workers > 0:
            warnings.warn(f"DataLoader: num_workers={num_workers} loads in this process (there "
                          f"are no worker processes here); the batches and their order are "
                          f"the same" + ("; worker_init_fn is not called" if worker_init_fn
                                         else ""), stacklevel=2)

        if isinstance(dataset, IterableDataset):
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")

        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (isinstance(self.dataset, IterableDataset)
                                                  and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __iter__(self):
        # PyTorch's iterator draws a base seed for its workers first, which moves the generator
        generator = self.generator if self.generator is not None else _random.default_generator
        generator._int64_seed()
        if isinstance(self.dataset, IterableDataset):
            return self._iterable_batches()
        return self._map_batches()

    def _map_batches(self):
        fetch = getattr(self.dataset, "__getitems__", None)
        for indices in self._index_sampler:
            if not self._auto_collation:
                yield self.collate_fn(self.dataset[indices])
            elif callable(fetch):
                yield self.collate_fn(fetch(indices))
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def _iterable_batches(self):
        stream = iter(self.dataset)
        if self.batch_size is None:
            for sample in stream:
                yield self.collate_fn(sample)
            return
        while True:
            batch = []
            for sample in stream:
                batch.append(sample)
                if len(batch) == self.batch_size:
                    break
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield self.collate_fn(batch)
            if len(batch) < self.batch_size:
                return

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # TypeError if the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)
