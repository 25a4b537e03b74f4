"""Devices, PyTorch's way of naming them: this engine computes with numpy on the CPU only.

``device("cpu")``, ``"cpu"`` and ``device=None`` are accepted wherever PyTorch takes a device;
asking for CUDA (or any other accelerator) gets an error that says so, never a silent CPU run
pretending to be one. ``cuda.is_available()`` is False, so the usual
``device = torch.device("cuda" if torch.cuda.is_available() else "cpu")`` picks the CPU.
"""
from __future__ import annotations

_KNOWN = ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla", "mkldnn", "vulkan", "ipu", "hpu")


class DeviceError(RuntimeError):
    """A program asked for a device this engine does not have (CUDA, MPS, …)."""


class device:
    """``torch.device``: ``device("cpu")``, ``device("cuda:0")``, ``device("cuda", 0)``.

    Making a CUDA device object is allowed (PyTorch allows it without a GPU too); putting a
    tensor or module on it raises :class:`DeviceError`."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        text = str(type)
        if ":" in text:
            text, _, number = text.partition(":")
            if index is not None or not number.isdigit():
                raise RuntimeError(f"device: invalid device string {str(type)!r}")
            index = int(number)
        if text not in _KNOWN:
            raise RuntimeError(f"device: expected one of {', '.join(_KNOWN)} device type at start "
                               f"of device string: {str(type)!r}")
        self.type, self.index = text, (None if index is None else int(index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type={self.type!r}" + ("" if self.index is None else
                                                 f", index={self.index}") + ")"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))


CPU = device("cpu")
_default = CPU


def is_device(x) -> bool:
    """Does ``x`` (an argument of ``.to(...)``) name a device rather than a dtype?"""
    if isinstance(x, device):
        return True
    if isinstance(x, str):
        return x.partition(":")[0] in _KNOWN
    return type(x) is int  # a CUDA ordinal, as PyTorch reads it


def check(where, dev) -> device:
    """The device ``dev`` (None, a string or a device) names, if this engine has it; else a
    :class:`DeviceError` that names ``where`` (the call that asked)."""
    if dev is None:
        return _default
    d = dev if isinstance(dev, device) else device(dev) if isinstance(dev, str) else None
    if d is None:
        if isinstance(dev, int):  # PyTorch reads an int as a CUDA ordinal
            d = device("cuda", dev)
        else:
            raise TypeError(f"{where}: expected a device (a string such as 'cpu' or a "
                            f"tinygrad_rnn.device), got {type(dev).__name__}")
    if d.type != "cpu":
        raise DeviceError(
            f"{where}: device {str(d)!r} is not available: tinygrad_rnn computes with numpy on "
            f"the CPU only. Use 'cpu' (torch.cuda.is_available() is False here, so "
            f"`torch.device('cuda' if torch.cuda.is_available() else 'cpu')` picks it).")
    return d


def get_default_device() -> device:
    """``torch.get_default_device``: always the CPU here."""
    return _default


def set_default_device(dev) -> None:
    """``torch.set_default_device``: only the CPU (or None) can be set."""
    check("set_default_device", dev)
