"""The public names of turbosio.server: all importable and documented."""

from __future__ import annotations

import inspect

import pytest

import turbosio.server
from turbosio.server import frames


@pytest.mark.parametrize("module", [turbosio.server, frames])
def test_public_names_exist_and_are_documented(module: object) -> None:
    for name in module.__all__:  # type: ignore[attr-defined]
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_server_exports() -> None:
    assert {"App", "Server", "run", "serve"} <= set(turbosio.server.__all__)
