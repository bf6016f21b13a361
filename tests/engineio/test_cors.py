"""Origin checks and CORS headers (cors.py through the engine)."""

from __future__ import annotations

import logging

import pytest

from turbosio.engineio import Engine

from .fakes import FakeRequest, FakeWebSocketRequest, RecordingHandler, handshake, poll, post, q

HOST = {"Host": "localhost:5000"}


def _engine(**options: object) -> Engine:
    return Engine(RecordingHandler(), **options)  # type: ignore[arg-type]


def _handshake_req(headers: dict[str, str]) -> FakeRequest:
    return FakeRequest("GET", q(transport="polling"), headers)


async def test_same_origin_by_default() -> None:
    engine = _engine()
    req = _handshake_req({**HOST, "Origin": "http://localhost:5000"})
    engine.handle_request(req)
    assert req.status == 200
    assert req.header("Access-Control-Allow-Origin") is None


async def test_same_origin_behind_a_proxy() -> None:
    engine = _engine()
    req = _handshake_req({"Host": "backend:8000", "X-Forwarded-Host": "example.com",
                          "Origin": "https://example.com"})  # fmt: skip
    engine.handle_request(req)
    assert req.status == 200


async def test_no_origin_passes() -> None:
    engine = _engine()
    req = _handshake_req(HOST)
    engine.handle_request(req)
    assert req.status == 200


async def test_cross_origin_refused_by_default(caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine()
    with caplog.at_level(logging.WARNING, "turbosio.engineio"):
        req = _handshake_req({**HOST, "Origin": "http://evil.example"})
        engine.handle_request(req)
    assert req.status == 403
    assert req.json() == {"code": 4, "message": "Forbidden"}
    assert req.header("Access-Control-Allow-Origin") is None
    assert not engine.sessions
    (record,) = caplog.records
    message = record.getMessage()
    assert '"http://evil.example"' in message and "cors_allowed_origins" in message


async def test_refusal_applies_to_session_requests_and_websockets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = _engine(cors_allowed_origins=["http://good.example"])
    sid = handshake(engine)
    bad = {"Origin": "http://bad.example"}
    assert poll(engine, sid, **bad).status == 403
    assert post(engine, sid, "4x", bad).status == 403
    ws = FakeWebSocketRequest(q(transport="websocket"), bad)
    engine.handle_websocket(ws)
    assert ws.ws is None and (ws.status, ws.text) == (400, "Forbidden")
    assert len(caplog.records) == 3
    assert all("not in cors_allowed_origins" in r.getMessage() for r in caplog.records)


async def test_star_with_credentials_reflects_the_origin() -> None:
    engine = _engine(cors_allowed_origins="*")
    req = _handshake_req({**HOST, "Origin": "http://anywhere.example"})
    engine.handle_request(req)
    assert req.status == 200
    assert req.header("Access-Control-Allow-Origin") == "http://anywhere.example"
    assert req.header("Access-Control-Allow-Credentials") == "true"
    assert req.header("Vary") == "Origin"


async def test_star_without_credentials() -> None:
    engine = _engine(cors_allowed_origins="*", cors_credentials=False)
    req = _handshake_req({"Origin": "http://anywhere.example"})
    engine.handle_request(req)
    assert req.header("Access-Control-Allow-Origin") == "*"
    assert req.header("Access-Control-Allow-Credentials") is None


@pytest.mark.parametrize(
    "setting",
    [
        ["http://good.example", "https://other.example"],
        "http://good.example",
        "http://GOOD.example/",
        lambda origin: origin.endswith("good.example"),
    ],
)
async def test_allowed_origins(setting: object) -> None:
    engine = _engine(cors_allowed_origins=setting)
    good = _handshake_req({"Origin": "http://good.example"})
    engine.handle_request(good)
    assert good.status == 200
    assert good.header("Access-Control-Allow-Origin") == "http://good.example"
    bad = _handshake_req({"Origin": "http://bad.example"})
    engine.handle_request(bad)
    assert bad.status == 403


async def test_every_response_carries_the_headers() -> None:
    engine = Engine(RecordingHandler(echo=True), cors_allowed_origins=["http://good.example"])
    origin = {"Origin": "http://good.example"}
    sid = handshake(engine, origin)
    posted = post(engine, sid, "4x", origin)
    polled = poll(engine, sid, **origin)
    unknown = poll(engine, "nope", **origin)
    for r in (posted, polled, unknown):
        assert r.header("Access-Control-Allow-Origin") == "http://good.example", r.response
        assert r.header("Access-Control-Allow-Credentials") == "true"


async def test_preflight() -> None:
    engine = _engine(cors_allowed_origins=["http://good.example"])
    req = FakeRequest(
        "OPTIONS",
        q(transport="polling"),
        {"Origin": "http://good.example", "Access-Control-Request-Headers": "x-token"},
    )
    engine.handle_request(req)
    assert req.status == 204
    assert req.response is not None and req.response[2] == b""
    assert req.header("Access-Control-Allow-Origin") == "http://good.example"
    assert req.header("Access-Control-Allow-Methods") == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert req.header("Access-Control-Allow-Headers") == "x-token"
    assert req.header("Access-Control-Allow-Credentials") == "true"
    assert req.header("Vary") == "Origin, Access-Control-Request-Headers"


async def test_refused_preflight() -> None:
    engine = _engine(cors_allowed_origins=["http://good.example"])
    req = FakeRequest("OPTIONS", q(transport="polling"), {"Origin": "http://bad.example"})
    engine.handle_request(req)
    assert req.status == 403


async def test_options_without_origin_is_not_a_preflight() -> None:
    engine = _engine()
    req = FakeRequest("OPTIONS", q(transport="polling"))
    engine.handle_request(req)
    assert req.json() == {"code": 2, "message": "Bad handshake method"}


async def test_websocket_same_origin() -> None:
    engine = _engine()
    ok = FakeWebSocketRequest(q(transport="websocket"), {**HOST, "Origin": "http://localhost:5000"})
    engine.handle_websocket(ok)
    assert ok.ws is not None
    bad = FakeWebSocketRequest(q(transport="websocket"), {**HOST, "Origin": "http://x.example"})
    engine.handle_websocket(bad)
    assert bad.ws is None and bad.status == 400


def test_bad_setting() -> None:
    with pytest.raises(TypeError, match="origin strings"):
        _engine(cors_allowed_origins=["http://a.example", 3])
