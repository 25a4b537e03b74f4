"""Generator cases shared by tests/fixtures/make_random_fixtures.py and tests/test_random.py."""

SEEDS = [0, 1, 42, 2024, 2**32 + 5, 2**63, 2**64 - 1, -1, -2**63]
PERM_SIZES = [0, 1, 2, 3, 7, 100, 625, 1000]  # 625: one more than the twister's words
# (low, high) ranges on both sides of randint's switch to 64-bit draws at 2**28
RANDINT_RANGES = [(0, 5), (-5, 5), (0, 2**28 - 1), (0, 2**28), (3, 2**40 + 3), (2**62, 2**62 + 7)]
FULL_STATE_SEEDS = SEEDS[:3]  # the whole 5056-byte state is stored for these (it is 5 kB each)


def key(seed):
    return str(seed).replace("-", "m")
