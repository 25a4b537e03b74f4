"""``python -m tinygrad_rnn run SCRIPT [ARGS…]``: run a PyTorch program on this engine.

SCRIPT runs as ``python SCRIPT ARGS`` runs it — ``sys.argv``, ``__name__ == "__main__"``,
``__file__``, SCRIPT's folder first on ``sys.path``, its exit status, an uncaught exception
printed as Python prints it (from SCRIPT's frames on) — with ``import torch`` resolving to this
package (:mod:`tinygrad_rnn.torch_alias`).

What this engine refuses — a torch API it does not have, a CUDA tensor, a ``torch.load`` of a
file naming classes outside the allow-list or written by PyTorch — ends the run with a
one-paragraph message saying where in SCRIPT it happened and what to do, and exit status 2.

``--graph FILE`` / ``--explore FILE`` draw the first ``backward()`` the program makes: the
Graphviz picture (``tinygrad_rnn.viz.draw_graph``; FILE's suffix picks svg, png, pdf or dot)
and the HTML explorer with a replay of that backward (``tinygrad_rnn.explorer``). The first
``Tensor.backward`` call is caught by wrapping that method for the run (no engine change);
parameters are named after the modules the calling code holds (``model.rnn.weight_ih_l0``).
"""
from __future__ import annotations

import builtins
import functools
import os
import pathlib
import pickle
import sys
import traceback
import types

from .errors import TorchAPIUnavailable, TorchFileError, UnsafeLoadError, missing_tensor_attribute

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
REFUSED = (TorchAPIUnavailable, UnsafeLoadError, TorchFileError)


def run_script(script, args=(), graph=None, explore=None) -> int | str | None:
    """Run ``script`` with ``args`` as ``python script args`` would; returns what the process
    should exit with (``sys.exit`` accepts it: a number, None for 0, or a message for 1)."""
    path = os.path.abspath(script)
    if not os.path.isfile(path):
        print(f"run: can't open file {script!r}: no such file", file=sys.stderr)
        return 2
    with open(path, "rb") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as err:
        traceback.print_exception(type(err), err, None)
        return 1

    from . import torch_alias

    was_aliased = torch_alias.is_aliased()
    torch_alias.alias_torch()
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=path, __builtins__=builtins, __cached__=None)
    saved = sys.modules.get("__main__"), sys.argv, list(sys.path)
    sys.modules["__main__"] = main
    sys.argv = [script, *args]
    sys.path[0:1] = [os.path.dirname(path)]  # python SCRIPT: SCRIPT's folder, not the cwd
    catcher = _FirstBackward(graph, explore) if (graph or explore) else None
    try:
        if catcher is not None:
            catcher.install()
        try:
            exec(code, main.__dict__)
        except SystemExit as exit_:
            status = exit_.code
        except KeyboardInterrupt as err:
            _print_from(err, code)
            status = 130
        except BaseException as err:  # noqa: B902 - what Python would print, then status 1
            missing = missing_tensor_attribute(err) if isinstance(err, AttributeError) else None
            if missing is not None:  # x.sinh(): a torch method this engine lacks
                err = missing.with_traceback(err.__traceback__)
            if _is_refusal(err):
                print(_refusal_message(err, path), file=sys.stderr)
                return 2
            _print_from(err, code)
            return 1
        else:
            status = 0
    finally:
        if catcher is not None:
            catcher.uninstall()
        sys.modules["__main__"], sys.argv, sys.path[:] = saved[0], saved[1], saved[2]
        if not was_aliased:
            torch_alias.unalias_torch()
        sys.stdout.flush()
    if catcher is not None and status in (0, None):
        problem = catcher.problem()
        if problem:
            print(f"run: {problem}", file=sys.stderr)
            return 2
    return status


def _is_refusal(err) -> bool:
    """One of the refusals, or a NotImplementedError raised inside this package."""
    from .devices import DeviceError  # CUDA asked for: .cuda(), device="cuda", .to("cuda")

    if isinstance(err, (*REFUSED, DeviceError)):
        return True
    if isinstance(err, NotImplementedError):
        frames = traceback.extract_tb(err.__traceback__)
        return bool(frames) and frames[-1].filename.startswith(_PACKAGE_DIR + os.sep)
    return False


def _refusal_message(err, path) -> str:
    """``SCRIPT, line N (`code`): message`` — the innermost frame of the program's own code."""
    where = None
    for frame in traceback.extract_tb(err.__traceback__):
        if not frame.filename.startswith(_PACKAGE_DIR + os.sep) and \
                os.path.exists(frame.filename):
            where = frame
    text = " ".join(str(err).split())
    kind = "refused" if isinstance(err, (UnsafeLoadError, pickle.UnpicklingError,
                                         TorchFileError)) else "unsupported"
    if where is None:
        return f"run: {kind}: {text}"
    line = f" (`{where.line.strip()}`)" if where.line else ""
    shown = path if where.filename == path else where.filename
    if shown.startswith(os.getcwd() + os.sep):
        shown = os.path.relpath(shown)
    return f"run: {shown}, line {where.lineno}{line}: {kind}: {text}"


def _print_from(err, code):
    """Print ``err``'s traceback from the script's first frame on, as Python would (through
    ``sys.excepthook``, which the script may have replaced)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    if tb is not None:
        err = err.with_traceback(tb)  # the built-in hook prints the exception's own traceback
    sys.excepthook(type(err), err, err.__traceback__)


class _FirstBackward:
    """Wraps ``Tensor.backward`` for the run: the first call is recorded and drawn."""

    def __init__(self, graph, explore):
        self.graph, self.explore = graph, explore
        self.done, self.errors = False, []
        self.original = None
        self.keep = None

    def install(self):
        from . import Tensor, keep_values
        from . import viz  # noqa: F401 - importing viz records per-node gradient norms

        self.original = original = Tensor.backward
        if self.explore:  # values of intermediates for the explorer, until the first backward
            self.keep = keep_values()
            self.keep.__enter__()

        @functools.wraps(original)
        def backward(tensor, *args, **kwargs):
            if self.done:
                return original(tensor, *args, **kwargs)
            self.done = True
            self._stop_keeping()
            return self.draw(tensor, original, args, kwargs, sys._getframe(1))
        Tensor.backward = backward

    def _stop_keeping(self):
        if self.keep is not None:
            self.keep.__exit__(None, None, None)
            self.keep = None

    def uninstall(self):
        from . import Tensor

        self._stop_keeping()
        if self.original is not None:
            Tensor.backward = self.original

    def draw(self, tensor, original, args, kwargs, frame):
        from . import explorer, viz

        params = _parameter_names(frame)
        with explorer.record_backward() as record:
            result = original(tensor, *args, **kwargs)
        if self.graph:
            try:
                path = pathlib.Path(self.graph)
                fmt = path.suffix[1:] or "svg"
                drawing = viz.draw_graph(tensor, params=params)
                if fmt == "dot":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(drawing.source)
                else:
                    path = viz.render(drawing, path, format=fmt)
                print(f"run: drew the first backward() in {path}", file=sys.stderr)
            except Exception as err:  # the program goes on; the run's status says it
                self.errors.append(f"--graph {self.graph}: could not draw: {err}")
        if self.explore:
            try:
                path = explorer.explore(tensor, self.explore, params=params, record=record)
                print(f"run: wrote the explorer of the first backward() to {path}",
                      file=sys.stderr)
            except Exception as err:
                self.errors.append(f"--explore {self.explore}: could not write: {err}")
        return result

    def problem(self):
        if not self.done:
            return ("--graph/--explore: the program made no backward() call, so there was "
                    "nothing to draw")
        return "; ".join(self.errors)


def _parameter_names(frame) -> dict:
    """{"model.rnn.weight_ih_l0": Parameter} for the modules the calling code holds (its
    locals, then its module's globals); a shared parameter keeps its first name."""
    from .nn import Module

    names, seen = {}, set()
    for scope in (frame.f_locals, frame.f_globals):
        for var, value in list(scope.items()):
            if isinstance(value, Module) and not var.startswith("_"):
                for name, p in value.named_parameters():
                    if id(p) not in seen:
                        seen.add(id(p))
                        names[f"{var}.{name}"] = p
    return names
