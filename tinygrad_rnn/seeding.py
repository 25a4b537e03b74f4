"""The numpy generator behind ``nn.init``, ``Dropout``, ``randn`` and ``Tensor.uniform_``:
one for the whole package, reseeded by ``manual_seed`` (``random.py``). It sits below the Tensor
so tensor methods can draw from it; PyTorch's own twister (``random.Generator``) sits above."""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def get_rng() -> np.random.Generator:
    """The package's numpy generator (changes object when it is reseeded)."""
    return _generator


def reseed(seed: int) -> None:
    global _generator
    _generator = np.random.default_rng(int(seed) % (1 << 64))
