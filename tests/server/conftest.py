"""Fixtures for the embedded server's tests: a small echo App served on 127.0.0.1, port 0.

Every async test here runs twice: on asyncio's default loop and on uvloop (the production
loop), where uvloop is installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from server_helpers import EchoApp

from turbosio.server import Server, serve


def _loop_factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories


@pytest.hookimpl(optionalhook=True)
def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    return _loop_factories()


@pytest.fixture
def app() -> EchoApp:
    return EchoApp()


@pytest.fixture
async def server(app: EchoApp) -> AsyncIterator[Server]:
    srv = await serve(app, "127.0.0.1", 0)
    try:
        yield srv
    finally:
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), 10)
