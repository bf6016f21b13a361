"""Fixtures shared by every test group: finding Node.js and the npm peers in tests/js.

A test that needs the JavaScript peers asks for the ``node`` fixture. When Node or
``tests/js/node_modules`` is missing the test is skipped with a loud reason (run ``make js``);
under ``CI=true`` it fails instead, so a CI job cannot pass by skipping its interop tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: tests/js: package.json with the pinned peers, their node_modules and our .mjs scripts.
JS_DIR = Path(__file__).resolve().parent / "js"

#: The npm packages the JavaScript tests load (socket.io-client-454 is 4.5.4 under an alias).
JS_PACKAGES = ("socket.io", "socket.io-client", "socket.io-client-454", "engine.io")


def _missing_js() -> str | None:
    if shutil.which("node") is None:
        return "`node` is not on PATH"
    for package in JS_PACKAGES:
        if not (JS_DIR / "node_modules" / package / "package.json").is_file():
            return f"tests/js/node_modules/{package} is missing (run `make js`)"
    return None


def pytest_report_header() -> str:
    """Say up front whether the JavaScript peers are there, so a skip is never silent."""
    missing = _missing_js()
    return f"js peers: {'MISSING: ' + missing if missing else 'node + tests/js/node_modules'}"


@pytest.fixture(scope="session")
def node() -> str:
    """Path of the ``node`` executable; skips (fails under CI=true) when the peers are missing."""
    missing = _missing_js()
    if missing is not None:
        message = f"!!! JavaScript peers unavailable: {missing}; these tests did NOT run"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: this is an error)", pytrace=False)
        pytest.skip(message)
    found = shutil.which("node")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def js_dir() -> Path:
    """tests/js, the working directory for the JavaScript scripts."""
    return JS_DIR
