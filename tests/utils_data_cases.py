"""Loader and split cases shared by tests/fixtures/make_utils_data_fixtures.py and
tests/test_utils_data.py, written once over ``lib`` (``torch`` or ``tinygrad_rnn``)."""

# (n, batch_size, drop_last, seed, epochs): shuffled DataLoader with a seeded generator; several
# epochs from one generator show that each iter() draws a seed first and the sampler's last
# (unused) permutation moves the generator too
LOADERS = [(10, 4, False, 0, 3), (10, 5, True, 1, 2), (7, 3, True, 42, 2), (1, 1, False, 5, 2),
           (100, 16, False, 2024, 2)]
# (n, num_samples, replacement, seed): RandomSampler on its own
SAMPLERS = [(10, None, False, 3), (10, 25, False, 3), (10, 4, False, 8), (10, 40, True, 3),
            (1000, 70, True, 11), (6, 6, True, 0)]
# (n, lengths, seed): random_split
SPLITS = [(10, [3, 7], 0), (10, [0.3, 0.3, 0.4], 1), (11, [0.5, 0.5], 2),
          (2007, [0.85, 0.15], 2024), (7, [0.2, 0.2, 0.2, 0.2, 0.2], 3), (5, [5, 0], 4)]
UNSEEDED_SEED = 17  # manual_seed for the loaders and samplers that draw from the default generator


def key(*parts):
    return "_".join(str(p) for p in parts).replace(" ", "").replace(",", "-")


class Indices:
    """A map-style dataset whose item i is i."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return i

    def __len__(self):
        return self.n


def loader_orders(lib, n, batch_size, drop_last, seed, epochs):
    """The batches (lists of indices) of each epoch of a shuffled loader."""
    data = lib.utils.data
    loader = data.DataLoader(Indices(n), batch_size=batch_size, shuffle=True, drop_last=drop_last,
                             generator=lib.Generator().manual_seed(seed))
    return [[b.tolist() for b in loader] for _ in range(epochs)]


def sampler_order(lib, n, num_samples, replacement, seed):
    sampler = lib.utils.data.RandomSampler(Indices(n), replacement=replacement,
                                           num_samples=num_samples,
                                           generator=lib.Generator().manual_seed(seed))
    return list(sampler) + list(sampler)  # two passes from one generator


def split_indices(lib, n, lengths, seed):
    parts = lib.utils.data.random_split(Indices(n), lengths,
                                        generator=lib.Generator().manual_seed(seed))
    return [list(p.indices) for p in parts]


def unseeded_orders(lib):
    """Shuffling without a generator: drawn from the default generator after manual_seed."""
    lib.manual_seed(UNSEEDED_SEED)
    data = lib.utils.data
    loader = data.DataLoader(Indices(9), batch_size=4, shuffle=True)
    first = [b.tolist() for b in loader] + [b.tolist() for b in loader]
    sampler = list(data.RandomSampler(Indices(12)))
    subset = list(data.SubsetRandomSampler([10, 20, 30, 40, 50]))
    split = [list(p.indices) for p in data.random_split(Indices(8), [0.5, 0.5])]
    return first, sampler, subset, split
