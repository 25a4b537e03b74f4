"""The errors that say "PyTorch has this, this engine does not" (no imports: any layer may raise
them). ``python -m tinygrad_rnn run`` turns each into a one-paragraph message and exit status 2.
"""
import pickle


class TorchAPIUnavailable(NotImplementedError):
    """A PyTorch API this engine does not have; the message names it and the nearest thing that
    exists here."""


class CUDAUnavailable(TorchAPIUnavailable):
    """The program asked for a CUDA tensor (``.cuda()``, ``device="cuda"``); this engine runs on
    numpy, on the CPU only."""


class MissingTorchAttribute(TorchAPIUnavailable, AttributeError):
    """``torch.X.name`` that this engine lacks. Also an AttributeError, so ``hasattr(torch, name)``
    and ``getattr(torch, name, default)`` answer as for any missing attribute."""


class UnsafeLoadError(pickle.UnpicklingError):
    """``load`` met something outside its allow-list (a class or function it will not create)
    and stopped before running anything."""


class TorchFileError(ValueError):
    """``load`` was given a file written by PyTorch itself (its zip or legacy format)."""
