"""A character corpus built at run time from the docstrings of Python's standard library, so the
package ships no third-party text, and a character vocabulary."""
from __future__ import annotations

import importlib
import inspect
import re

import numpy as np

DEFAULT_MODULES = (
    "argparse", "base64", "bisect", "calendar", "collections", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions", "functools", "gettext",
    "heapq", "inspect", "ipaddress", "itertools", "json", "logging", "numbers", "operator",
    "optparse", "os", "pathlib", "pickle", "pprint", "queue", "random", "re", "sched", "shlex",
    "shutil", "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "typing", "unittest", "urllib.parse", "uuid", "warnings", "zipfile",
)


def _docstrings(module):
    """Docstrings of a module and its public classes, functions and methods, sorted by name."""
    yield inspect.getdoc(module) or ""
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            for attr, member in sorted(vars(obj).items()):
                if not attr.startswith("_") and inspect.isfunction(member):
                    yield inspect.getdoc(member) or ""


def stdlib_corpus(max_chars=200_000, modules=DEFAULT_MODULES) -> str:
    """Concatenated docstrings (printable ASCII and newlines only), at most ``max_chars`` long.

    Deterministic for a given Python version; missing modules are skipped.
    """
    pieces, seen, size = [], set(), 0
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for doc in _docstrings(module):
            doc = re.sub(r"[^\x20-\x7e\n]", "", doc.replace("\t", "    "))
            doc = re.sub(r"\n{3,}", "\n\n", doc).strip()
            if len(doc) < 40 or doc in seen:
                continue
            seen.add(doc)
            pieces.append(doc + "\n\n")
            size += len(pieces[-1])
            if size >= max_chars:
                return "".join(pieces)[:max_chars]
    return "".join(pieces)[:max_chars]


class CharVocab:
    """Characters ↔ integer ids. Build from a text (the sorted set of its characters) or from
    the ``chars`` string of a saved vocabulary (no pickle needed: it is a string)."""

    def __init__(self, text_or_chars: str):
        self.chars = sorted(set(text_or_chars))
        self.index = {c: i for i, c in enumerate(self.chars)}

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        try:
            return np.array([self.index[c] for c in text], dtype=np.int64)
        except KeyError as err:
            raise ValueError(f"CharVocab.encode: character {err.args[0]!r} is not in the "
                             f"vocabulary of {self.size} characters") from None

    def decode(self, ids) -> str:
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(f"CharVocab.decode: ids must lie in [0, {self.size})")
        return "".join(self.chars[i] for i in ids)

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"CharVocab({self.size} characters)"
