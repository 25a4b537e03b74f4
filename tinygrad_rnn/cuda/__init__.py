"""``torch.cuda`` on an engine without GPUs: ``is_available()`` is False and ``device_count()``
0, so programs that ask first choose the CPU; seeding calls are accepted and do nothing; anything
that would need a GPU raises :class:`~tinygrad_rnn.device.DeviceError`."""
from __future__ import annotations

from ..devices import DeviceError


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def manual_seed(seed) -> None:
    """Nothing to seed: there is no GPU generator (``torch.manual_seed`` seeds the CPU one)."""


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    """Nothing runs asynchronously here."""


def empty_cache() -> None:
    """No GPU memory to free."""


def current_device():
    raise DeviceError("cuda.current_device: no CUDA device (tinygrad_rnn runs on the CPU only)")


def get_device_name(device=None):
    raise DeviceError("cuda.get_device_name: no CUDA device (tinygrad_rnn runs on the CPU only)")
