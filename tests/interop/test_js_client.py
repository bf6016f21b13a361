"""The official socket.io-client against our server, unchanged.

Each test runs one scenario of tests/js/interop-client.mjs (see conftest.py for the matrix of
servers, client versions and transports) and asserts on what the client observed. Binary
values come back as ``{"$bin": "<hex>"}``. Every scenario also runs against Node's socket.io
4.8, so these expectations are Node's behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytestmark = pytest.mark.js

#: The ``interop`` fixture: ``await interop(scenario, profile="default")`` -> result.
Runner = Callable[..., Awaitable[dict[str, Any]]]


def uvicorn_too(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run this scenario against the ASGI app under uvicorn as well."""
    test.interop_asgi_subset = True  # type: ignore[attr-defined]
    return test


def b(data: bytes) -> dict[str, str]:
    """A binary value as the client script prints it."""
    return {"$bin": data.hex()}


@uvicorn_too
async def test_ack_client_to_server(interop: Runner) -> None:
    """The client's ack callback gets what the handler returned: several args, one, none."""
    result = await interop("ack-client")
    assert result == {
        "several": [1, "two", {"three": [3, None, True]}],
        "one": ["hello"],
        "none": [],
    }


@uvicorn_too
async def test_ack_server_to_client(interop: Runner) -> None:
    """emit_with_ack gets the client callback's answer; without one it times out."""
    result = await interop("ack-server")
    assert result["single"] == [[{"answered": ["one", 1]}]]
    assert result["several"] == [["answered", "several", {"n": 2}, [3]]]
    assert result["timeout"] == ["operation has timed out"]


@uvicorn_too
async def test_binary(interop: Runner) -> None:
    """Nested Buffers survive both directions, in events and in acks."""
    result = await interop("binary")
    assert result["echoed"] == [
        {
            "name": "blob",
            "data": b(b"\x01\x02\x03"),
            "nested": {"list": [b(b"\x04\x05"), "x", {"deep": b(bytes(range(256)))}]},
        },
        [b(b"ab"), 7],
    ]
    # server -> client binary event, binary ack back, which the server sends again.
    got = ["several", {"file": b(b"\x09\x08\x07")}, [b(b"\x06")]]
    assert result["answer"] == [["answered", {"got": got, "extra": b(b"\xff\x00")}]]


@uvicorn_too
async def test_order_of_500_events(interop: Runner) -> None:
    """500 events echoed one by one come back complete and in order."""
    result = await interop("order")
    assert result["received"] == list(range(500))


async def test_rooms_and_except(interop: Runner) -> None:
    """Room broadcasts reach members only; except_ and socket.to/broadcast exclude."""
    result = await interop("rooms")
    # A and B are in the room, B also in vip, C in neither.
    assert result["news"] == {
        "A": ["io.to(room)", "io.to(room).except(vip)"],
        "B": ["io.to(room)", "socket.to(room) from A", "socket.broadcast from A"],
        "C": ["socket.broadcast from A"],
    }
    survey = result["survey"]
    assert survey["error"] is None
    assert sorted(survey["responses"]) == ["A", "B"]


async def test_namespace_refused(interop: Runner) -> None:
    """ConnectionRefused from a connect handler or a middleware gives connect_error with its
    message and data; an unknown namespace is refused; the connection stays usable."""
    result = await interop("refused")
    assert result["handler"] == {
        "connected": False,
        "error": {"message": "refused by handler", "data": {"code": 4001, "retry": False}},
    }
    assert result["handlerPlain"] == {
        "connected": False,
        "error": {"message": "plain refusal", "data": None},
    }
    assert result["middleware"] == {
        "connected": False,
        "error": {"message": "invalid token", "data": {"reason": "token mismatch"}},
    }
    assert result["unknown"] == {
        "connected": False,
        "error": {"message": "Invalid namespace", "data": None},
    }
    assert result["echo"] == ["still usable"]


async def test_namespace_accepted_with_auth(interop: Runner) -> None:
    """The client's auth payload reaches socket.handshake.auth; the socket is in its own room."""
    result = await interop("accepted")
    assert result["connected"] is True
    me = result["whoami"]
    assert me["auth"] == {"token": "secret", "user": "ana", "n": [1, 2]}
    assert me["nsp"] == "/guarded"
    assert me["id"] == result["socketId"]
    assert me["rooms"] == [result["socketId"]]


@uvicorn_too
async def test_two_namespaces_one_connection(interop: Runner) -> None:
    """Two namespaces ride one engine connection: same engine id on both server sockets."""
    result = await interop("multiplex")
    main, custom = result["main"], result["custom"]
    assert result["sameManager"] is True
    assert result["extraOpens"] == 0
    assert main["nsp"] == "/"
    assert custom["nsp"] == "/custom"
    assert main["engine"] == custom["engine"] == result["clientEngineId"]
    # Socket.IO v5: socket ids are per namespace and differ from the engine id.
    assert len({main["id"], custom["id"], result["clientEngineId"]}) == 3


@uvicorn_too
async def test_server_side_disconnect(interop: Runner) -> None:
    """socket.disconnect() shows "io server disconnect" on the client, with or without
    closing the connection; the server's handler gets "server namespace disconnect"."""
    result = await interop("server-disconnect")
    assert result == {
        "customReason": "io server disconnect",
        "serverCustomReason": "server namespace disconnect",
        "mainConnectedAfterCustom": True,
        "mainReason": "io server disconnect",
        "serverMainReason": "server namespace disconnect",
        "mainActive": False,
    }


async def test_client_side_disconnect(interop: Runner) -> None:
    """socket.disconnect() on the client gives "client namespace disconnect" on the server."""
    result = await interop("client-disconnect")
    assert result == {
        "customReason": "io client disconnect",
        "serverCustomReason": "client namespace disconnect",
        "mainReason": "io client disconnect",
        "serverMainReason": "client namespace disconnect",
    }


async def test_idle_connection_kept_alive_by_pings(interop: Runner) -> None:
    """With ping_interval=0.2/ping_timeout=0.2 an idle client stays connected for 1.5 s,
    answering the pings it sees on its manager."""
    result = await interop("heartbeat", profile="heartbeat")
    assert result["disconnects"] == []
    assert result["connected"] is True
    assert result["pings"] >= 3
    assert result["echo"] == ["alive"]


@uvicorn_too
async def test_oversize_message(interop: Runner, client: tuple[str, str]) -> None:
    """A message over max_http_buffer_size closes the sender's connection only: over polling
    the POST fails ("transport error"), over websocket the socket closes ("transport close");
    another client keeps working and gets a broadcast afterwards."""
    result = await interop("oversize", profile="small")
    polling = client[1] == "polling"
    assert result["victimTransport"] == ("polling" if polling else "websocket")
    assert result["victimReason"] == ("transport error" if polling else "transport close")
    assert result["victimAck"] is None
    assert result["victimConnected"] is False
    assert result["bystanderNews"] == ["after"]
    assert result["bystanderEcho"] == ["still", "here"]
    assert result["bystanderConnected"] is True


async def test_catch_all(interop: Runner) -> None:
    """A catch-all handler gets events no handler names, binary included; the client's
    onAny sees what the server sends."""
    result = await interop("catch-all")
    assert result["received"] == [
        ["caught", "alpha", [1, "two"]],
        ["caught", "beta", [{"x": [1, 2]}, b(b"\x05\x06")]],
        ["caught", "gamma", []],
    ]
