"""The authentication patterns of docs/deployment.md, with the official JavaScript client:
a token in ``auth``, ``allow_request`` refusing at the HTTP level (403, code 4), and a
Flask-Login cookie session with ``turbosio.flask``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import HERE, ServerProcess


def test_token_in_auth(
    start_server: Callable[..., ServerProcess], js_client: Callable[..., Any]
) -> None:
    server = start_server("--token", "s3cret")
    seen = js_client("whoami", server.url, {"auth": {"token": "s3cret"}})
    assert seen["whoami"]["address"] == "127.0.0.1"
    refused = js_client("refused", server.url, {"auth": {"token": "guess"}})
    assert refused == {
        "connected": False,
        "message": "invalid token",
        "data": {"hint": "send auth.token"},
        "description": None,
    }
    assert "Traceback" not in server.log  # a refusal is not an error


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_allow_request_refuses_at_the_http_level(
    transport: str, start_server: Callable[..., ServerProcess], js_client: Callable[..., Any]
) -> None:
    server = start_server("--ticket", "t-42")
    options: dict[str, Any] = {"transports": [transport]}
    refused = js_client("refused", server.url, options)
    assert refused["connected"] is False
    if transport == "polling":
        assert (refused["message"], refused["description"]) == ("xhr poll error", 403)
    else:
        assert refused["message"] == "websocket error"
    seen = js_client("whoami", server.url, {**options, "query": {"ticket": "t-42"}})
    assert seen["transport"] == transport
    # What the client was told, as Node's engine.io says it.
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{server.url}/socket.io/?EIO=4&transport=polling", timeout=10)
    assert caught.value.code == 403
    assert json.loads(caught.value.read()) == {"code": 4, "message": "Forbidden"}
    caught.value.close()


def test_flask_login_cookie_session(
    start_server: Callable[..., ServerProcess], js_client: Callable[..., Any]
) -> None:
    server = start_server(script=HERE / "flask_app.py")
    for transport in ("polling", "websocket"):
        options = {"transports": [transport], "login": f"{server.url}/login?user=alice"}
        seen = js_client("cookie", server.url, options)
        assert seen["connected"] is True
        assert seen["welcome"] == "alice"
        assert seen["whoami"] == {"user": "alice", "address": "127.0.0.1"}
    anonymous = js_client("cookie", server.url, {})
    assert anonymous["connected"] is False
    assert "Traceback" not in server.log
