"""Shared by the tutorials: fast mode, the output folder, and saving figures.

Set TUTORIAL_FAST=1 to run every tutorial with small sizes (the test suite does).
"""
import os
import pathlib

FAST = os.environ.get("TUTORIAL_FAST", "") not in ("", "0")
OUT = pathlib.Path(os.environ.get("TUTORIAL_OUT", pathlib.Path(__file__).parent / "out"))
OUT.mkdir(parents=True, exist_ok=True)


def pick(full, fast):
    """``full`` normally, ``fast`` in fast mode."""
    return fast if FAST else full


def savefig(fig, name):
    path = OUT / name
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"figure: {path}")
    return path


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot
