"""Shared by the tutorials: fast mode, the output folder, and saving figures.

Set TUTORIAL_FAST=1 to run every tutorial with small sizes (the test suite does).
"""
import os
import pathlib
import sys

FAST = os.environ.get("TUTORIAL_FAST", "") not in ("", "0")
# The base seed of every random draw: TUTORIAL_SEED=7 reruns a tutorial on other data, and its
# assertions (the claims of the text) must still hold.
SEED = int(os.environ.get("TUTORIAL_SEED", "0"))
IN_NOTEBOOK = "ipykernel" in sys.modules  # run by Jupyter (`make notebooks`), not as a script
OUT = pathlib.Path(os.environ.get("TUTORIAL_OUT", pathlib.Path(__file__).parent / "out"))
OUT.mkdir(parents=True, exist_ok=True)


def pick(full, fast):
    """``full`` normally, ``fast`` in fast mode."""
    return fast if FAST else full


def savefig(fig, name):
    """Write ``fig`` to OUT/name; in a notebook also show it here, once, as saved."""
    path = OUT / name
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"figure: {path}")
    if IN_NOTEBOOK:
        import matplotlib.pyplot as pyplot
        from IPython.display import display
        display(fig)
        pyplot.close(fig)  # or the inline backend shows it a second time at the end of the cell
    return path


def plt():
    """pyplot; as a script it draws off-screen (Agg), in a notebook inline."""
    import matplotlib
    if not IN_NOTEBOOK:
        matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def show(obj):
    """In a notebook, display ``obj`` (e.g. a graph from ``viz.draw_graph``) under the cell."""
    if IN_NOTEBOOK:
        from IPython.display import display
        display(obj)


def check_exercise(number, answer, expected, hint, rtol=0.05):
    """Tell the reader whether ``answer`` matches ``expected`` (numbers within ``rtol``, anything
    else by equality). ``answer=None`` is the placeholder: it says so instead of failing, so the
    tutorial still runs top to bottom. Returns True, False, or None (not answered yet)."""
    import numpy as np

    if answer is None:
        print(f"exercise {number}: no answer yet — set the answer variable and rerun this cell")
        return None
    if isinstance(expected, str) or isinstance(answer, str):
        right = str(answer).strip().lower() == str(expected).strip().lower()
    else:
        try:
            right = bool(np.allclose(answer, expected, rtol=rtol, atol=1e-12))
        except (ValueError, TypeError):  # a list of the wrong length, a wrong kind of answer
            right = False
    print(f"exercise {number}: " + ("right!" if right else f"not yet. Hint: {hint}"))
    return right
