"""Handshake, request checks and error answers (Node's engine.io server.ts behaviour)."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from turbosio.engineio import Engine

from .fakes import FakeRequest, FakeWebSocketRequest, RecordingHandler, handshake, q

SID = re.compile(r"^[A-Za-z0-9_-]{20}$")


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def engine(handler: RecordingHandler) -> Engine:
    return Engine(handler, ping_interval=0.3, ping_timeout=0.2)


async def test_polling_handshake(engine: Engine, handler: RecordingHandler) -> None:
    req = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(req)
    assert req.status == 200
    assert req.header("Content-Type") == "text/plain; charset=UTF-8"
    assert req.header("Cache-Control") == "no-store"
    assert req.header("Set-Cookie") is None  # the cookie is off by default
    assert req.text.startswith("0")
    value = json.loads(req.text[1:])
    assert list(value) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
    assert SID.match(value["sid"])
    assert value["upgrades"] == ["websocket"]
    assert value["pingInterval"] == 300
    assert value["pingTimeout"] == 200
    assert value["maxPayload"] == 1_000_000
    session = engine.sessions[value["sid"]]
    assert handler.opened == [session]
    assert session.transport == "polling"
    assert session.request is req


async def test_sids_are_unique(engine: Engine) -> None:
    sids = {handshake(engine) for _ in range(50)}
    assert len(sids) == 50
    assert set(engine.sessions) == sids


@pytest.mark.parametrize(
    ("options", "upgrades"),
    [
        ({"allow_upgrades": False}, []),
        ({"transports": ["polling"]}, []),
        ({"transports": ("polling", "websocket")}, ["websocket"]),
    ],
)
async def test_polling_handshake_upgrades(options: dict[str, object], upgrades: list[str]) -> None:
    engine = Engine(RecordingHandler(), **options)  # type: ignore[arg-type]
    req = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(req)
    assert json.loads(req.text[1:])["upgrades"] == upgrades


async def test_websocket_handshake(engine: Engine, handler: RecordingHandler) -> None:
    req = FakeWebSocketRequest(q(transport="websocket"))
    engine.handle_websocket(req)
    assert req.ws is not None
    assert req.ws.max_message_size == 1_000_000
    (first,) = req.ws.sent
    assert isinstance(first, str) and first.startswith("0")
    value = json.loads(first[1:])
    assert list(value) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
    assert value["upgrades"] == []
    session = engine.sessions[value["sid"]]
    assert session.transport == "websocket"
    assert handler.opened == [session]


async def test_handshake_times_in_milliseconds() -> None:
    engine = Engine(RecordingHandler(), ping_interval=25, ping_timeout=0.05)
    req = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(req)
    value = json.loads(req.text[1:])
    assert (value["pingInterval"], value["pingTimeout"]) == (25000, 50)


def _error(req: FakeRequest) -> tuple[int, object]:
    assert req.header("Content-Type") == "application/json"
    return req.status, req.json()


UNSUPPORTED = {"code": 5, "message": "Unsupported protocol version"}
UNKNOWN_SID = {"code": 1, "message": "Session ID unknown"}


@pytest.mark.parametrize(
    ("method", "query", "status", "body"),
    [
        ("GET", {"EIO": "4"}, 400, {"code": 0, "message": "Transport unknown"}),
        ("GET", q(transport="abc"), 400, {"code": 0, "message": "Transport unknown"}),
        ("GET", q(transport="webtransport"), 400, {"code": 0, "message": "Transport unknown"}),
        ("GET", {"transport": "polling"}, 400, UNSUPPORTED),
        ("GET", q(EIO="abc", transport="polling"), 400, UNSUPPORTED),
        ("GET", q(EIO="3", transport="polling"), 400, UNSUPPORTED),
        ("POST", q(transport="polling"), 400, {"code": 2, "message": "Bad handshake method"}),
        ("PUT", q(transport="polling"), 400, {"code": 2, "message": "Bad handshake method"}),
        ("GET", q(transport="polling", sid="nope"), 400, UNKNOWN_SID),
        ("POST", q(transport="polling", sid="nope"), 400, UNKNOWN_SID),
        # A WebSocket handshake that arrives as plain HTTP, without Upgrade.
        ("GET", q(transport="websocket"), 400, {"code": 3, "message": "Bad request"}),
    ],
)  # fmt: skip
async def test_http_errors(
    engine: Engine, method: str, query: dict[str, str], status: int, body: object
) -> None:
    req = FakeRequest(method, query)
    engine.handle_request(req)
    assert _error(req) == (status, body)
    assert not engine.sessions


async def test_disabled_transport_is_unknown() -> None:
    engine = Engine(RecordingHandler(), transports=["websocket"])
    req = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(req)
    assert _error(req) == (400, {"code": 0, "message": "Transport unknown"})
    wsreq = FakeWebSocketRequest(q(transport="websocket"))
    engine.handle_websocket(wsreq)
    assert wsreq.ws is not None


async def test_invalid_origin_characters(engine: Engine) -> None:
    req = FakeRequest("GET", q(transport="polling"), {"Origin": "http://a\x01b"})
    engine.handle_request(req)
    assert _error(req) == (400, {"code": 3, "message": "Bad request"})


async def test_other_methods_on_a_session_get_500(engine: Engine) -> None:
    sid = handshake(engine)
    req = FakeRequest("PUT", q(transport="polling", sid=sid))
    engine.handle_request(req)
    assert req.status == 500
    assert sid in engine.sessions


async def test_websocket_transport_on_a_polling_session_over_http(engine: Engine) -> None:
    sid = handshake(engine)
    req = FakeRequest("GET", q(transport="websocket", sid=sid))
    engine.handle_request(req)
    assert _error(req) == (400, {"code": 3, "message": "Bad request"})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"EIO": "4"}, "Transport unknown"),
        (q(transport="abc"), "Transport unknown"),
        ({"transport": "websocket"}, "Unsupported protocol version"),
        (q(EIO="abc", transport="websocket"), "Unsupported protocol version"),
        (q(transport="websocket", sid="nope"), "Session ID unknown"),
        (q(transport="polling"), "Bad request"),
    ],
)
async def test_websocket_errors(engine: Engine, query: dict[str, str], message: str) -> None:
    req = FakeWebSocketRequest(query)
    engine.handle_websocket(req)
    assert req.ws is None
    assert req.status == 400
    assert req.header("Content-Type") == "text/html"
    assert req.text == message
    assert not engine.sessions


async def test_allow_request_refuses() -> None:
    seen = []

    def allow(req: object) -> bool:
        seen.append(req)
        return False

    handler = RecordingHandler()
    engine = Engine(handler, allow_request=allow)
    req = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(req)
    assert _error(req) == (403, {"code": 4, "message": "Forbidden"})
    assert seen == [req]
    assert not engine.sessions and not handler.opened

    wsreq = FakeWebSocketRequest(q(transport="websocket"))
    engine.handle_websocket(wsreq)
    assert wsreq.ws is None
    assert (wsreq.status, wsreq.text) == (400, "Forbidden")


async def test_allow_request_only_on_handshakes() -> None:
    calls = []

    def allow(req: FakeRequest) -> bool:
        calls.append(req)
        return True

    engine = Engine(RecordingHandler(), allow_request=allow)
    sid = handshake(engine)
    req = FakeRequest("POST", q(transport="polling", sid=sid), body="4x")
    engine.handle_request(req)
    assert req.text == "ok"
    assert len(calls) == 1


async def test_allow_request_async() -> None:
    async def allow(req: FakeRequest) -> bool:
        await asyncio.sleep(0)
        return req.headers.get("authorization") == "yes"

    handler = RecordingHandler()
    engine = Engine(handler, allow_request=allow)
    good = FakeRequest("GET", q(transport="polling"), {"Authorization": "yes"})
    bad = FakeRequest("GET", q(transport="polling"), {"Authorization": "no"})
    engine.handle_request(good)
    engine.handle_request(bad)
    assert not good.answered and not bad.answered
    for _ in range(5):
        await asyncio.sleep(0)
    assert good.status == 200 and good.text.startswith("0")
    assert _error(bad) == (403, {"code": 4, "message": "Forbidden"})
    assert len(handler.opened) == 1

    ws_good = FakeWebSocketRequest(q(transport="websocket"), {"Authorization": "yes"})
    engine.handle_websocket(ws_good)
    for _ in range(5):
        await asyncio.sleep(0)
    assert ws_good.ws is not None and str(ws_good.ws.sent[0]).startswith("0")


async def test_allow_request_that_raises_refuses(caplog: pytest.LogCaptureFixture) -> None:
    def allow(req: object) -> bool:
        raise RuntimeError("boom")

    engine = Engine(RecordingHandler(), allow_request=allow)
    req = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(req)
    assert req.status == 403
    assert "allow_request failed" in caplog.text


async def test_eio_checked_after_allow_request() -> None:
    # Node verifies (allowRequest included) before the handshake checks the protocol version.
    engine = Engine(RecordingHandler(), allow_request=lambda req: False)
    req = FakeRequest("GET", {"transport": "polling"})
    engine.handle_request(req)
    assert req.status == 403


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        (True, "io={sid}; Path=/; HttpOnly; SameSite=Lax"),
        ({"name": "woot"}, "woot={sid}; Path=/; HttpOnly; SameSite=Lax"),
        ({"path": "/custom"}, "io={sid}; Path=/custom; HttpOnly; SameSite=Lax"),
        ({"path": False}, "io={sid}; HttpOnly; SameSite=Lax"),
        ({"sameSite": "strict"}, "io={sid}; Path=/; HttpOnly; SameSite=Strict"),
        ({"httpOnly": False}, "io={sid}; Path=/; SameSite=Lax"),
        ({"http_only": False, "same_site": "none", "secure": True},
         "io={sid}; Path=/; Secure; SameSite=None"),
        ({"max_age": 60, "domain": "example.com"},
         "io={sid}; Max-Age=60; Domain=example.com; Path=/; HttpOnly; SameSite=Lax"),
    ],
)  # fmt: skip
async def test_cookie(cookie: object, expected: str) -> None:
    engine = Engine(RecordingHandler(), cookie=cookie)  # type: ignore[arg-type]
    req = FakeRequest("GET", q(transport="polling"))
    engine.handle_request(req)
    sid = json.loads(req.text[1:])["sid"]
    assert req.header("Set-Cookie") == expected.format(sid=sid)
    # Only on the handshake.
    later = FakeRequest("POST", q(transport="polling", sid=sid), body="6")
    engine.handle_request(later)
    assert later.header("Set-Cookie") is None


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="transports"):
        Engine(RecordingHandler(), transports=["webtransport"])
    with pytest.raises(ValueError, match="transports"):
        Engine(RecordingHandler(), transports=[])
    with pytest.raises(ValueError, match="ping_interval"):
        Engine(RecordingHandler(), ping_interval=0)
    with pytest.raises(ValueError, match="cookie"):
        Engine(RecordingHandler(), cookie={"colour": "blue"})
