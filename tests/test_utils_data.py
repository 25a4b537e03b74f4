"""utils.data: datasets, samplers, DataLoader and collation, with PyTorch's random orders."""
import collections
import json
import types
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tg
import tinygrad_rnn.utils.data as D
import utils_data_cases as C
from conftest import FIXTURES, fixture_script
from tinygrad_rnn import random as R

REF = json.loads((FIXTURES / "utils_data_orders.json").read_text())
# the names the cases use, as `torch` spells them
LIB = types.SimpleNamespace(utils=tg.utils if hasattr(tg, "utils") else __import__(
    "tinygrad_rnn.utils").utils, Generator=R.Generator, manual_seed=R.manual_seed)


def as_json(value):
    return json.loads(json.dumps(value))


# ---------------------------------------------------------------- orders equal PyTorch's
@pytest.mark.parametrize("case", C.LOADERS, ids=lambda c: C.key(*c))
def test_shuffled_loader_batches_equal_pytorch(case):
    assert as_json(C.loader_orders(LIB, *case)) == REF["loader_" + C.key(*case)]


@pytest.mark.parametrize("case", C.SAMPLERS, ids=lambda c: C.key(*c))
def test_random_sampler_order_equals_pytorch(case):
    assert as_json(C.sampler_order(LIB, *case)) == REF["sampler_" + C.key(*case)]


@pytest.mark.parametrize("case", C.SPLITS, ids=lambda c: C.key(*c))
def test_random_split_equals_pytorch(case):
    assert as_json(C.split_indices(LIB, *case)) == REF["split_" + C.key(*case)]


def test_default_generator_orders_equal_pytorch_after_manual_seed():
    assert as_json(list(C.unseeded_orders(LIB))) == REF["unseeded"]


def test_orders_equal_live_pytorch():
    torch = pytest.importorskip("torch")
    mk = fixture_script("make_utils_data_fixtures")
    assert as_json(mk.orders(LIB)) == as_json(mk.orders(torch))


def test_shuffled_loader_equals_live_pytorch_on_many_seeds():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for _ in range(25):
        n, bs, seed = int(rng.integers(1, 300)), int(rng.integers(1, 40)), int(rng.integers(2**62))
        drop = bool(rng.integers(2)) and n >= bs
        case = (n, bs, drop, seed, 2)
        assert C.loader_orders(LIB, *case) == C.loader_orders(torch, *case), case


def test_char_rnn_tutorial_split_equals_live_pytorch():
    """The official char-RNN tutorial splits its 20074 names 85/15 with Generator seed 2024."""
    torch = pytest.importorskip("torch")
    ours = C.split_indices(LIB, 20074, [0.85, 0.15], 2024)
    theirs = C.split_indices(torch, 20074, [0.85, 0.15], 2024)
    assert [len(p) for p in ours] == [17063, 3011]
    assert ours == theirs


# ---------------------------------------------------------------- random_split rules
def test_random_split_fractions_deal_the_remainder_from_the_first_split():
    parts = D.random_split(C.Indices(11), [0.5, 0.5], generator=R.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [6, 5]
    parts = D.random_split(C.Indices(10), [0.3, 0.3, 0.4], generator=R.Generator())
    assert [len(p) for p in parts] == [3, 3, 4]
    assert sorted(sum((p.indices for p in parts), [])) == list(range(10))


def test_random_split_warns_about_empty_splits():
    with pytest.warns(UserWarning, match="split at index 1 is 0"):
        parts = D.random_split(C.Indices(2), [0.9, 0.1], generator=R.Generator())
    assert [len(p) for p in parts] == [2, 0]


@pytest.mark.parametrize("lengths, match", [
    ([3, 3], r"sum of input lengths \(6\) does not equal the length of the input dataset \(10\)"),
    ([0.5, 0.6], r"or fractions summing to 1; got \[0.5, 0.6\] \(sum 1.1\)"),
    ([1.2, -0.2], "fraction at index 0 is not between 0 and 1"),
    ([12, -2], "non-negative ints summing to len"),
    ([5.0, 5.0], "non-negative ints summing to len"),
])
def test_random_split_bad_lengths(lengths, match):
    with pytest.raises(ValueError, match=match):
        D.random_split(C.Indices(10), lengths)


# ---------------------------------------------------------------- datasets
def test_tensor_dataset_rows_and_size_mismatch():
    x, y = tg.tensor(np.arange(12.0).reshape(4, 3)), tg.tensor(np.arange(4))
    ds = D.TensorDataset(x, y)
    assert len(ds) == 4
    row, label = ds[2]
    np.testing.assert_array_equal(row.numpy(), [6.0, 7.0, 8.0])
    assert label.item() == 2
    with pytest.raises(ValueError, match=r"same size in dimension 0.*\(4, 3\), \(3,\)"):
        D.TensorDataset(x, tg.tensor(np.arange(3)))


def test_concat_dataset_indexing_and_errors():
    ds = D.ConcatDataset([C.Indices(3), [10, 11], C.Indices(0), ["a"]])
    assert len(ds) == 6 and ds.cumulative_sizes == [3, 5, 5, 6]
    assert [ds[i] for i in range(6)] == [0, 1, 2, 10, 11, "a"]
    assert ds[-1] == "a" and ds[-6] == 0
    with pytest.raises(IndexError, match="out of range"):
        ds[6]
    with pytest.raises(IndexError, match="out of range"):
        ds[-7]
    with pytest.raises(ValueError, match="empty iterable"):
        D.ConcatDataset([])
    assert len(D.Dataset.__add__(D.TensorDataset(tg.tensor(np.zeros(2))), [1])) == 3


def test_subset_and_getitems():
    sub = D.Subset([10, 11, 12, 13], [3, 1])
    assert len(sub) == 2 and sub[0] == 13 and sub.__getitems__([1, 0]) == [11, 13]


class Stream(D.IterableDataset):
    def __init__(self, n, with_len=True):
        self.n, self.with_len = n, with_len

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        if not self.with_len:
            raise TypeError("no length")
        return self.n


def test_iterable_dataset_batches_and_len():
    assert [b.tolist() for b in D.DataLoader(Stream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5],
                                                                         [6]]
    loader = D.DataLoader(Stream(7), batch_size=3, drop_last=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]] and len(loader) == 2
    assert len(D.DataLoader(Stream(7), batch_size=3)) == 3
    assert list(D.DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]
    assert [b.tolist() for b in D.DataLoader(Stream(2) + Stream(2), batch_size=4)] == \
        [[0, 1, 0, 1]]
    with pytest.raises(TypeError):
        len(D.DataLoader(Stream(3, with_len=False)))
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        D.DataLoader(Stream(3), shuffle=True)


# ---------------------------------------------------------------- samplers
def test_batch_sampler_and_lengths():
    seq = D.SequentialSampler(range(7))
    assert list(D.BatchSampler(seq, 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(D.BatchSampler(seq, 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(D.BatchSampler(seq, 3, False)) == 3 and len(D.BatchSampler(seq, 3, True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        D.BatchSampler(seq, 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        D.BatchSampler(seq, 2, 1)


def test_random_sampler_checks_its_options():
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        D.RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        D.RandomSampler(range(3), num_samples=0)
    assert len(D.RandomSampler(range(3), num_samples=7)) == 7


# ---------------------------------------------------------------- DataLoader
def test_loader_len_and_sequential_order():
    loader = D.DataLoader(C.Indices(10), batch_size=4)
    assert len(loader) == 3 and [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7],
                                                                  [8, 9]]
    assert len(D.DataLoader(C.Indices(10), batch_size=4, drop_last=True)) == 2
    unbatched = D.DataLoader(C.Indices(3), batch_size=None)
    assert len(unbatched) == 3 and list(unbatched) == [0, 1, 2]


def test_loader_with_batch_sampler_and_collate_fn():
    loader = D.DataLoader(C.Indices(5), batch_sampler=[[4, 0], [2]], collate_fn=list)
    assert list(loader) == [[4, 0], [2]]


@pytest.mark.parametrize("kwargs, match", [
    (dict(sampler=[0, 1], shuffle=True), "mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "mutually exclusive with drop_last"),
    (dict(num_workers=-1), "non-negative int"),
    (dict(prefetch_factor=2), "prefetch_factor"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
])
def test_loader_rejects_conflicting_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.DataLoader(C.Indices(4), **kwargs)


def test_num_workers_loads_in_process_with_a_warning_and_same_batches():
    with pytest.warns(UserWarning, match="num_workers=2 loads in this process"):
        loader = D.DataLoader(C.Indices(9), batch_size=4, shuffle=True, num_workers=2,
                              pin_memory=True, generator=R.Generator().manual_seed(3))
    plain = D.DataLoader(C.Indices(9), batch_size=4, shuffle=True,
                         generator=R.Generator().manual_seed(3))
    assert [b.tolist() for b in loader] == [b.tolist() for b in plain]
    assert D.get_worker_info() is None


def test_loader_over_tensor_dataset_stacks_rows():
    x = tg.tensor(np.arange(20, dtype=np.float32).reshape(10, 2))
    y = tg.tensor(np.arange(10))
    batches = list(D.DataLoader(D.TensorDataset(x, y), batch_size=4))
    xb, yb = batches[0]
    assert isinstance(batches[0], list)  # tuples collate to lists, as in PyTorch
    assert xb.shape == (4, 2) and xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(batches[-1][0].numpy(), [[16, 17], [18, 19]])


# ---------------------------------------------------------------- collation
Point = collections.namedtuple("Point", "x y")


def test_collate_dtypes_follow_pytorch():
    c = D.default_collate
    assert c([1.0, 2.0]).dtype == np.float64  # Python floats are float64 here, as in PyTorch
    assert c([1, 2]).dtype == np.int64
    assert c([True, False]).dtype == np.bool_
    assert c([np.float32(1), np.float32(2)]).dtype == np.float32
    assert c([np.int32(1), np.int32(2)]).dtype == np.int32
    assert c([np.float64(1), np.float64(2)]).dtype == np.float64
    batch = c([np.zeros(3, np.float32), np.ones(3, np.float32)])
    assert batch.shape == (2, 3) and batch.dtype == np.float32
    assert c([np.zeros(2), np.ones(2)]).dtype == np.float64
    assert c([tg.tensor(np.zeros((2, 2))), tg.tensor(np.ones((2, 2)))]).shape == (2, 2, 2)


def test_collate_structures_follow_pytorch():
    c = D.default_collate
    out = c([(1, "a", 2.0), (3, "b", 4.0)])
    assert isinstance(out, list) and out[0].tolist() == [1, 3] and out[1] == ("a", "b")
    out = c([{"x": 1, "y": [1.0, 2.0]}, {"x": 2, "y": [3.0, 4.0]}])
    assert out["x"].tolist() == [1, 2] and [t.tolist() for t in out["y"]] == [[1.0, 3.0],
                                                                               [2.0, 4.0]]
    out = c([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(out, Point) and out.x.tolist() == [1, 3] and out.y.dtype == np.float64
    assert [t.tolist() for t in c([[1, 2], [3, 4]])] == [[1, 3], [2, 4]]


def test_collate_errors():
    with pytest.raises(RuntimeError, match=r"equal size, got sizes \[2, 1\]"):
        D.default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="batch must contain tensors, numpy arrays, numbers"):
        D.default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        D.default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(ValueError, match="empty batch"):
        D.default_collate([])


def test_default_convert():
    v = D.default_convert
    assert isinstance(v(np.zeros(2)), tg.Tensor) and v(np.zeros(2)).dtype == np.float64
    out = v((1, np.ones(1)))
    assert isinstance(out, list) and out[0] == 1 and isinstance(out[1], tg.Tensor)
    assert v("s") == "s" and v(3) == 3
    assert v(np.float32(2)).dtype == np.float32
    assert isinstance(v(Point(np.ones(1), 2)), Point)


def test_collate_dtypes_equal_live_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate
    samples = [[1.5, 2.5], [1, 2], [True, False], [np.float32(1), np.float32(2)],
               [np.int16(1), np.int16(2)], [np.uint8(1), np.uint8(2)],
               [np.zeros(2, np.float32)] * 2, [np.zeros(2, np.int32)] * 2]
    for batch in samples:
        ours, theirs = D.default_collate(batch), torch_collate(batch)
        assert np.dtype(ours.dtype) == theirs.numpy().dtype, batch
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_no_warning_on_the_plain_path():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(D.DataLoader(C.Indices(5), batch_size=2, shuffle=True))


# A program in the shape of the official char-RNN classification tutorial's data handling: a
# Dataset of (label tensor, one-hot name tensor, label, name), split 85/15 with a seeded
# torch.Generator, then a shuffled DataLoader. SEEN and NAMES are given by the test.
CHAR_RNN_PROGRAM = '''
import torch
from torch.utils.data import Dataset, DataLoader

device = torch.device("cpu")
letters = "abcdefghijklmnopqrstuvwxyz"

def line_to_tensor(line):
    tensor = torch.zeros(len(line), 1, len(letters))
    for i, ch in enumerate(line):
        tensor[i][0][letters.index(ch)] = 1
    return tensor

class NamesDataset(Dataset):
    def __init__(self, names):
        self.data, self.data_tensors, self.labels, self.labels_tensors = [], [], [], []
        self.labels_uniq = sorted(set(lang for _, lang in names))
        for name, lang in names:
            self.data.append(name)
            self.data_tensors.append(line_to_tensor(name))
            self.labels.append(lang)
        for label in self.labels:
            self.labels_tensors.append(
                torch.tensor([self.labels_uniq.index(label)], dtype=torch.long))

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        return self.labels_tensors[idx], self.data_tensors[idx], self.labels[idx], self.data[idx]

alldata = NamesDataset(NAMES)
train_set, test_set = torch.utils.data.random_split(
    alldata, [.85, .15], generator=torch.Generator(device=device).manual_seed(2024))
for label_tensor, text_tensor, label, text in train_set:
    SEEN.append((text, label, int(label_tensor.item()), tuple(text_tensor.shape)))
loader = DataLoader(test_set, batch_size=2, shuffle=True,
                    generator=torch.Generator().manual_seed(7), collate_fn=lambda b: b)
for batch in loader:
    SEEN.append([item[3] for item in batch])
'''


def _run_char_rnn(module, names):
    import sys
    names_ = ("torch", "torch.utils", "torch.utils.data")
    saved = {k: sys.modules.get(k) for k in names_}
    sys.modules.update(zip(names_, (module, module.utils, module.utils.data)))
    namespace = {"NAMES": names, "SEEN": []}
    try:
        exec(compile(CHAR_RNN_PROGRAM, "char_rnn_program", "exec"), namespace)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return namespace["SEEN"]


def test_char_rnn_tutorial_data_program_follows_pytorch_with_torch_renamed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    names = [("".join(rng.choice(letters, int(rng.integers(2, 8)))), lang)
             for lang in ("Czech", "Irish", "Greek") for _ in range(15)]
    ours, theirs = _run_char_rnn(tg, names), _run_char_rnn(torch, names)
    assert len(ours) == 38 + 4  # 38 training names, then the 7 test names in batches of 2
    assert ours == theirs
