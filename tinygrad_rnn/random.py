"""Random numbers for the package.

Two sources, for two jobs:

* ``get_rng()``: a numpy generator behind ``nn.init``, ``Dropout``, ``randn`` and friends.
* :class:`Generator`: PyTorch's CPU generator (``torch.Generator``) reproduced bit for bit, for the
  draws that decide the *order of data*: ``randperm`` (shuffled ``DataLoader``, ``random_split``),
  ``randint`` and the int64 seeds a ``DataLoader`` draws. The same seed gives the same
  permutations as PyTorch, so a program ported with ``import torch`` changed sees the same batches.

PyTorch's CPU generator is the 32-bit Mersenne Twister (Matsumoto & Nishimura 1998). A seed ``s``
fills the 624-word state with the reference recurrence
``x[0] = s mod 2³²,  x[i] = 1812433253·(x[i-1] ⊕ (x[i-1] >> 30)) + i  (mod 2³²)``, and every draw
is one tempered 32-bit word (numpy's ``MT19937`` does the twisting and tempering). The schemes on
top of the words were found by experiment against torch 2.13:

* ``randperm(n)``, n < 214748364: Fisher–Yates from the front, one word per position,
  ``for i in 0 … n-2: swap(r[i], r[i + w mod (n-i)])``.
* ``randint(low, high)``: ``low + w mod (high-low)`` with one word while the range is < 2²⁸,
  else with a 64-bit draw ``w₁·2³² + w₂`` (first word high).
* an int64 seed (``torch.empty((), dtype=torch.int64).random_()``): ``(w₁·2³² + w₂) mod 2⁶³``.
"""
from __future__ import annotations

import os

import numpy as np

from . import devices
from .seeding import get_rng, reseed  # noqa: F401  (get_rng: re-exported)
from .tensor import Tensor

_DEFAULT_SEED = 67280421310721  # the seed a fresh torch.Generator() starts from
_STATE_BYTES = 5056  # size of torch's CPU generator state (get_state)
_TAIL_BYTES = 40  # torch's cached normal samples after the twister words; kept, never used
_PERM_WORDS_LIMIT = 214748364  # torch's randperm draws one word per position below this n
_RANDINT_WORDS_LIMIT = 1 << 28  # torch's randint draws one word per value below this range


def _twister_key(seed: int) -> np.ndarray:
    """The 624 state words of MT19937 seeded with ``seed mod 2³²`` (the reference init_genrand)."""
    key = np.empty(624, dtype=np.uint32)
    x = seed & 0xFFFFFFFF
    key[0] = x
    for i in range(1, 624):
        x = (1812433253 * (x ^ (x >> 30)) + i) & 0xFFFFFFFF
        key[i] = x
    return key


def _as_seed(seed, where):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{where}: the seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -(1 << 63) <= seed < (1 << 64):
        raise ValueError(f"{where}: the seed must lie in [-2**63, 2**64), got {seed}")
    return seed % (1 << 64)  # negative seeds wrap, as in PyTorch


class Generator:
    """PyTorch's CPU random generator (``torch.Generator``): same seeding, same state layout, same
    words, so permutations drawn from it equal PyTorch's.

    ``manual_seed(s)`` returns the generator itself, so ``Generator().manual_seed(42)`` works as in
    PyTorch. ``get_state()`` is a uint8 Tensor of 5056 bytes in PyTorch's layout: a state saved by
    ``torch.Generator.get_state()`` (as a numpy array or torch tensor) loads here, and back.
    """

    def __init__(self, device="cpu"):
        devices.check("Generator", device)
        self.device = "cpu"
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed) -> "Generator":
        """Seed the twister with ``seed`` (an int in [-2**63, 2**64); negatives wrap)."""
        self._seed = _as_seed(seed, "Generator.manual_seed")
        self._bits = np.random.MT19937()
        self._bits.state = {"bit_generator": "MT19937",
                            "state": {"key": _twister_key(self._seed), "pos": 624}}
        self._fresh = True  # seeded, nothing drawn: PyTorch writes next=0 in get_state
        self._tail = bytes(_TAIL_BYTES)
        return self

    def initial_seed(self) -> int:
        """The seed last given to :meth:`manual_seed` (or drawn by :meth:`seed`)."""
        return self._seed

    def seed(self) -> int:
        """Seed from the operating system's entropy, and return the seed (PyTorch's ``seed()``)."""
        seed = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(seed)
        return seed

    # ------------------------------------------------------------ state, in PyTorch's bytes
    def get_state(self):
        """A uint8 Tensor of 5056 bytes: seed, the twister's counters and 624 words, in PyTorch's
        ``CPUGeneratorImplState`` layout."""
        state = self._bits.state["state"]
        pos = int(state["pos"])
        nxt, left = (0, 1) if (self._fresh and pos == 624) else (pos, 625 - pos)
        head = np.array([self._seed], dtype="<u8").tobytes() + np.array(
            [left, 1], dtype="<i4").tobytes() + np.array([nxt], dtype="<u8").tobytes()
        words = np.asarray(state["key"], dtype="<u8").tobytes()
        raw = np.frombuffer(head + words + self._tail, dtype=np.uint8).copy()
        return _tensor(raw, np.uint8)

    def set_state(self, new_state) -> "Generator":
        """Restore a state from :meth:`get_state` (ours or PyTorch's, as Tensor or array)."""
        raw = _as_bytes(new_state)
        if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size != _STATE_BYTES:
            raise ValueError(f"Generator.set_state: expected a uint8 state of {_STATE_BYTES} "
                             f"bytes (from get_state()), got dtype {raw.dtype} and shape "
                             f"{raw.shape}")
        raw = raw.tobytes()
        seed = int(np.frombuffer(raw[0:8], "<u8")[0])
        left, seeded = (int(v) for v in np.frombuffer(raw[8:16], "<i4"))
        nxt = int(np.frombuffer(raw[16:24], "<u8")[0])
        words = np.frombuffer(raw[24:24 + 624 * 8], "<u8")
        if not seeded or not 1 <= left <= 624 or nxt > 624 or (left != 1 and nxt != 625 - left) \
                or (words > 0xFFFFFFFF).any():
            raise ValueError(f"Generator.set_state: not a valid twister state (left={left}, "
                             f"next={nxt}, seeded={seeded})")
        self._seed = seed
        self._bits = np.random.MT19937()
        pos = 624 if left == 1 else nxt
        self._bits.state = {"bit_generator": "MT19937",
                            "state": {"key": words.astype(np.uint32), "pos": pos}}
        self._fresh = left == 1 and nxt == 0
        self._tail = raw[24 + 624 * 8:]
        return self

    def __getstate__(self):  # copy.deepcopy and pickle keep the exact stream
        return {"seed": self._seed, "bits": self._bits.state, "fresh": self._fresh,
                "tail": self._tail, "device": self.device}

    def __setstate__(self, d):
        self._seed, self._fresh, self._tail, self.device = d["seed"], d["fresh"], d["tail"], d["device"]
        self._bits = np.random.MT19937()
        self._bits.state = d["bits"]

    def __repr__(self):
        return f"Generator(device='cpu', initial_seed={self._seed})"

    # ------------------------------------------------------------ draws
    def _words(self, k: int) -> np.ndarray:
        """The next ``k`` 32-bit words (as uint64)."""
        if k <= 0:
            return np.zeros(0, dtype=np.uint64)
        self._fresh = False
        return self._bits.random_raw(k)

    def _words64(self, k: int) -> np.ndarray:
        """``k`` 64-bit draws, each two words with the first one high (as uint64)."""
        w = self._words(2 * k).reshape(k, 2)
        return (w[:, 0] << np.uint64(32)) | w[:, 1]

    def _int64_seed(self) -> int:
        """One non-negative int64, as ``torch.empty((), dtype=torch.int64).random_(generator=g)``
        draws it (the seed a DataLoader or RandomSampler takes)."""
        return int(self._words64(1)[0]) & ((1 << 63) - 1)


def _tensor(array, dtype=None, requires_grad=False):
    return Tensor(array, dtype=array.dtype if dtype is None else dtype,
                  requires_grad=requires_grad)


def _as_bytes(state):
    if hasattr(state, "detach") and hasattr(state, "numpy"):  # a torch tensor
        state = state.detach().cpu().numpy()
    return np.asarray(state)


default_generator = Generator()


def manual_seed(seed) -> Generator:
    """Seed everything random in the package: the numpy generator behind ``nn.init``,
    ``Dropout``, ``randn``…, and :data:`default_generator` (``randperm``, shuffling). Returns
    ``default_generator``, as ``torch.manual_seed`` does. Like ``torch.manual_seed``, ``seed``
    may be anything ``int()`` takes."""
    seed = int(seed)
    default_generator.manual_seed(seed)
    reseed(seed)
    return default_generator


def seed() -> int:
    """Seed everything from the operating system's entropy; return the seed (``torch.seed``)."""
    s = default_generator.seed()
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed of :data:`default_generator` (``torch.initial_seed``)."""
    return default_generator.initial_seed()


def get_rng_state():
    """:data:`default_generator`'s state (``torch.get_rng_state``). The numpy generator behind
    ``nn.init`` and ``Dropout`` is not part of it."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore :data:`default_generator`'s state (``torch.set_rng_state``)."""
    default_generator.set_state(new_state)


def _count(n, where):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        if hasattr(n, "item") and getattr(n, "shape", None) == ():
            n = n.item()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"{where}: n must be an int, got {type(n).__name__}")
    n = int(n)
    if n < 0:
        raise ValueError(f"{where}: n must be non-negative, got {n}")
    return n


def permutation(n: int, generator: Generator | None = None) -> np.ndarray:
    """The int64 array behind :func:`randperm`."""
    n = _count(n, "randperm")
    g = default_generator if generator is None else generator
    if not isinstance(g, Generator):
        raise TypeError(f"randperm: generator must be a tinygrad_rnn Generator, got "
                        f"{type(g).__name__}")
    if n >= _PERM_WORDS_LIMIT:
        # PyTorch switches to a parallel scheme here that we do not reproduce: still a uniform
        # permutation drawn from (and advancing) the generator, but not PyTorch's.
        return np.random.Generator(np.random.PCG64(g._words(4))).permutation(n)
    # Fisher-Yates from the front; the offsets are computed at once, the swaps are sequential.
    offsets = (g._words(n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).tolist()
    perm = list(range(n))
    for i, z in enumerate(offsets):
        j = i + z
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.int64)


def randperm(n: int, *, generator: Generator | None = None, dtype=None, device=None,
             requires_grad=False):
    """A random permutation of ``0 … n-1`` as an int64 Tensor (``torch.randperm``); for the same
    seed the same permutation as PyTorch's CPU ``randperm`` (for n < 214748364)."""
    devices.check("randperm", device)
    return _tensor(permutation(n, generator), dtype, requires_grad)


def randint(low=0, high=None, size=None, *, generator: Generator | None = None, dtype=None,
            device=None, requires_grad=False):
    """Integers drawn uniformly from ``[low, high)`` (``torch.randint(low, high, size)`` or
    ``randint(high, size)``), the same values as PyTorch's CPU ``randint`` for the same seed."""
    if size is None:  # randint(high, size)
        if high is None:
            raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
        low, high, size = 0, low, high
    devices.check("randint", device)
    low, high = int(low), int(high)
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low} and high={high}")
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
    g = default_generator if generator is None else generator
    count = int(np.prod(size, dtype=np.int64))
    span = high - low
    draws = g._words(count) if span < _RANDINT_WORDS_LIMIT else g._words64(count)
    values = np.array([low + int(w) % span for w in draws.tolist()], dtype=np.int64)
    return _tensor(values.reshape(size), dtype, requires_grad)
