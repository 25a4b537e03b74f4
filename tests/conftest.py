"""Shared test helpers."""
from __future__ import annotations

import importlib.util
import pathlib

import pytest

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def fixture_script(name):
    """Import a fixture-making script (tests/fixtures/<name>.py) to reuse its PyTorch runner."""
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _say_how(report):
    """A test skipped for want of PyTorch or a browser says how to run it: `make test-full`."""
    if report.skipped and isinstance(report.longrepr, tuple):
        path, line, reason = report.longrepr
        if any(w in reason for w in ("torch", "playwright", "chromium")) and "test-full" not in \
                reason:
            report.longrepr = (path, line, f"{reason} — `make test-full` installs it and runs "
                                           f"every test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    _say_how((yield).get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    _say_how((yield).get_result())
