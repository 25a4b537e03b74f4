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


def missing_tensor_attribute(err):
    """For an AttributeError raised on a Tensor (``x.sinh()``: a PyTorch method this engine
    lacks), a :class:`MissingTorchAttribute` saying so with the nearest names it has; else None.
    (The Tensor has no ``__getattr__`` hook to raise it directly: that would slow every attribute
    read.) ``python -m tinygrad_rnn run`` reports it as an unsupported torch API."""
    import difflib

    obj, name = getattr(err, "obj", None), getattr(err, "name", None)
    if name is None or not any(c.__name__ == "Tensor" and c.__module__.startswith(__package__)
                               for c in type(obj).__mro__):  # a Tensor or a Parameter
        return None
    near = difflib.get_close_matches(name, [n for n in dir(obj) if not n.startswith("_")])
    hint = f"; the nearest: {', '.join(near)}" if near else ""
    return MissingTorchAttribute(f"Tensor.{name} is not available in tinygrad_rnn{hint}")


class UnsafeLoadError(pickle.UnpicklingError):
    """``load`` met something outside its allow-list (a class or function it will not create)
    and stopped before running anything."""


class TorchFileError(ValueError):
    """``load`` was given a file written by PyTorch itself (its zip or legacy format)."""
