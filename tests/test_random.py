"""tinygrad_rnn.random: a Generator that draws PyTorch's CPU permutations bit for bit."""
import copy
import pickle

import numpy as np
import pytest

import random_cases as C
import tinygrad_rnn as tg
from conftest import FIXTURES, fixture_script
from tinygrad_rnn import random as R

REF = np.load(FIXTURES / "random_streams.npz")


def our_streams(seed):
    """The same sequence of draws as make_random_fixtures.torch_streams, from our Generator."""
    g = R.Generator().manual_seed(seed)
    out = [("seeded", np.zeros(0, np.int64), g.get_state().numpy().copy())]
    for n in C.PERM_SIZES:
        out.append((f"perm{n}", R.randperm(n, generator=g).numpy(), g.get_state().numpy().copy()))
    for low, high in C.RANDINT_RANGES:
        out.append((f"randint{low}_{high}", R.randint(low, high, (6,), generator=g).numpy(),
                    g.get_state().numpy().copy()))
    out.append(("int64seed", np.array([g._int64_seed()], np.int64), g.get_state().numpy().copy()))
    return out


@pytest.mark.parametrize("seed", C.SEEDS, ids=C.key)
def test_draws_and_states_equal_pytorch_fixture(seed):
    k = C.key(seed)
    for name, values, state in our_streams(seed):
        np.testing.assert_array_equal(values, REF[f"{k}/{name}/values"], err_msg=name)
        np.testing.assert_array_equal(state[:24], REF[f"{k}/{name}/head"], err_msg=name)
    if seed in C.FULL_STATE_SEEDS:
        np.testing.assert_array_equal(state, REF[f"{k}/final_state"])


def test_permutations_are_permutations_of_every_size():
    g = R.Generator().manual_seed(7)
    for n in range(0, 40):
        perm = R.randperm(n, generator=g)
        assert perm.dtype == np.int64 and perm.shape == (n,)
        assert sorted(perm.tolist()) == list(range(n))


@pytest.mark.parametrize("seed", C.SEEDS, ids=C.key)
def test_draws_and_states_equal_live_pytorch(seed):
    torch = pytest.importorskip("torch")
    mk = fixture_script("make_random_fixtures")
    for (name, a, sa), (_, b, sb) in zip(our_streams(seed), mk.torch_streams(torch, seed)):
        np.testing.assert_array_equal(a, b, err_msg=name)
        np.testing.assert_array_equal(sa, sb, err_msg=name)


def test_many_seeds_and_sizes_equal_live_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for seed in rng.integers(0, 2**63, 40).tolist():
        n = int(rng.integers(0, 3000))
        ours = R.randperm(n, generator=R.Generator().manual_seed(seed)).numpy()
        theirs = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=f"seed {seed}, n {n}")


def test_large_permutation_equals_live_pytorch():
    torch = pytest.importorskip("torch")
    n = (1 << 20) + 3
    ours = R.randperm(n, generator=R.Generator().manual_seed(11)).numpy()
    theirs = torch.randperm(n, generator=torch.Generator().manual_seed(11)).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_state_moves_between_torch_and_us_both_ways():
    torch = pytest.importorskip("torch")
    tg_gen, t_gen = R.Generator(), torch.Generator()
    t_gen.manual_seed(5)
    torch.randperm(700, generator=t_gen)  # mid-way through the second block of words
    tg_gen.set_state(t_gen.get_state())
    np.testing.assert_array_equal(R.randperm(50, generator=tg_gen).numpy(),
                                  torch.randperm(50, generator=t_gen).numpy())
    R.randperm(31, generator=tg_gen)
    t_gen.set_state(torch.from_numpy(tg_gen.get_state().numpy().copy()))
    np.testing.assert_array_equal(R.randperm(90, generator=tg_gen).numpy(),
                                  torch.randperm(90, generator=t_gen).numpy())


def test_fresh_generator_has_pytorchs_default_seed():
    g = R.Generator()
    assert g.initial_seed() == 67280421310721
    assert g.device == "cpu"
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(R.randperm(20, generator=R.Generator()).numpy(),
                                  torch.randperm(20, generator=torch.Generator()).numpy())


def test_manual_seed_returns_self_and_records_seed():
    g = R.Generator()
    assert g.manual_seed(12) is g
    assert g.initial_seed() == 12
    assert g.manual_seed(-1).initial_seed() == 2**64 - 1  # wraps, as PyTorch


@pytest.mark.parametrize("bad, err", [(1.5, TypeError), ("3", TypeError), (True, TypeError),
                                      (2**64, ValueError), (-2**63 - 1, ValueError)])
def test_generator_manual_seed_rejects_bad_seeds(bad, err):
    with pytest.raises(err, match="Generator.manual_seed"):
        R.Generator().manual_seed(bad)


def test_seed_draws_a_new_seed_and_uses_it():
    g = R.Generator()
    s = g.seed()
    assert g.initial_seed() == s
    assert R.randperm(30, generator=g).tolist() == \
        R.randperm(30, generator=R.Generator().manual_seed(s)).tolist()


def test_set_state_restores_the_stream():
    g = R.Generator().manual_seed(3)
    R.randperm(10, generator=g)
    saved = g.get_state()
    assert saved.dtype == np.uint8 and saved.shape == (5056,)
    first = R.randperm(100, generator=g).tolist()
    assert g.set_state(saved) is g
    assert R.randperm(100, generator=g).tolist() == first


def test_set_state_rejects_wrong_sizes_and_garbage():
    g = R.Generator()
    with pytest.raises(ValueError, match="5056 bytes"):
        g.set_state(np.zeros(5048, np.uint8))
    with pytest.raises(ValueError, match="5056 bytes"):
        g.set_state(np.zeros(5056, np.int64))
    with pytest.raises(ValueError, match="not a valid twister state"):
        g.set_state(np.zeros(5056, np.uint8))


def test_deepcopy_and_pickle_keep_the_stream():
    g = R.Generator().manual_seed(9)
    R.randperm(5, generator=g)
    for other in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert R.randperm(40, generator=other).tolist() == \
            R.randperm(40, generator=copy.deepcopy(g)).tolist()


def test_package_manual_seed_seeds_default_generator():
    assert tg.random.manual_seed(4) is R.default_generator
    a = R.randperm(25).tolist()
    R.manual_seed(4)
    assert R.randperm(25).tolist() == a
    assert R.initial_seed() == 4
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    assert torch.randperm(25).tolist() == a


def test_rng_state_functions_round_trip():
    R.manual_seed(8)
    state = R.get_rng_state()
    a = R.randperm(12).tolist()
    R.set_rng_state(state)
    assert R.randperm(12).tolist() == a


def test_randperm_dtype_and_errors():
    assert R.randperm(4, dtype=np.int32).dtype == np.int32
    assert R.randperm(np.int64(3)).shape == (3,)
    with pytest.raises(ValueError, match="randperm: n must be non-negative, got -1"):
        R.randperm(-1)
    with pytest.raises(TypeError, match="randperm: n must be an int, got float"):
        R.randperm(2.5)
    with pytest.raises(TypeError, match="generator must be a tinygrad_rnn Generator"):
        R.randperm(3, generator=np.random.default_rng(0))
    with pytest.raises(tg.DeviceError, match="randperm: device 'cuda' is not available"):
        R.randperm(3, device="cuda")


def test_randint_forms_and_errors():
    g1, g2 = R.Generator().manual_seed(1), R.Generator().manual_seed(1)
    assert R.randint(10, (3, 2), generator=g1).tolist() == \
        R.randint(0, 10, (3, 2), generator=g2).tolist()
    with pytest.raises(ValueError, match="expected low < high"):
        R.randint(5, 5, (2,))
