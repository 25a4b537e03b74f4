"""One random generator for the whole package, so ``manual_seed(s)`` makes initialisation and
dropout reproducible."""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reseed the generator used by ``nn.init``, ``Dropout``, ``randn`` and friends."""
    global _generator
    _generator = np.random.default_rng(int(seed))


def get_rng() -> np.random.Generator:
    """The package's current generator (changes object when :func:`manual_seed` is called)."""
    return _generator
