"""Shared test helpers."""
from __future__ import annotations

import importlib.util
import pathlib

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def fixture_script(name):
    """Import a fixture-making script (tests/fixtures/<name>.py) to reuse its PyTorch runner."""
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
