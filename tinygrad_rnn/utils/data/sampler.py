"""Samplers: iterables of dataset indices (or of index lists, for :class:`BatchSampler`), as
``torch.utils.data``. The random ones draw from a :class:`tinygrad_rnn.random.Generator`, so
their orders equal PyTorch's for the same generator state."""
from __future__ import annotations

from ... import random as _random


class Sampler:
    """Base class: subclasses define ``__iter__`` (and ``__len__`` when they know it)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, …, len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


def _generator_for(generator):
    """The generator to draw from: the given one, or — as PyTorch does when none is given — a
    fresh one seeded by an int64 drawn from the default generator."""
    if generator is not None:
        return generator
    return _random.Generator().manual_seed(_random.default_generator._int64_seed())


class RandomSampler(Sampler):
    """Indices in random order: without replacement, ``randperm(n)`` (repeated, and cut to length,
    when ``num_samples`` is not a multiple of n); with replacement, ``randint(n)`` in blocks of
    32. The random numbers are drawn when iteration starts, as in PyTorch; without a
    ``generator`` a seed is drawn from the default generator each time.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, got "
                            f"replacement={replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if isinstance(self.num_samples, bool) or not isinstance(self.num_samples, int) \
                or self.num_samples <= 0:
            raise ValueError(f"RandomSampler: num_samples should be a positive integer value, "
                             f"got num_samples={self.num_samples!r}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        g = _generator_for(self.generator)
        if self.replacement:
            for _ in range(self.num_samples // 32):
                yield from _random.randint(0, n, (32,), generator=g).tolist()
            yield from _random.randint(0, n, (self.num_samples % 32,), generator=g).tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from _random.permutation(n, g).tolist()
            # drawn even when nothing of it is used, as PyTorch does: it moves the generator
            yield from _random.permutation(n, g).tolist()[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in random order (one ``randperm`` per pass)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        g = self.generator if self.generator is not None else _random.default_generator
        for i in _random.permutation(len(self.indices), g).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last, shorter list is
    dropped when ``drop_last``."""

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer value, got "
                             f"batch_size={batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, got "
                             f"drop_last={drop_last!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
