"""The cluster API on a single server (in-memory adapter): it works, and reaches no one."""

from __future__ import annotations

from typing import Any

import pytest

import turbosio
from turbosio.adapters.base import BroadcastFlags, BroadcastOptions
from turbosio.adapters.cluster import (
    SocketDetails,
    decode_options,
    details_from_wire,
    encode_options,
    json_dumps,
    packet_from_wire,
    reply_once,
)
from turbosio.socketio.remote import RemoteSocket, handshake_from_dict

from .peer import Peer


async def test_single_server_cluster_api() -> None:
    sio = turbosio.Server()
    calls: list[Any] = []

    @sio.on_server_side("hello")
    def hello(*args: Any) -> None:
        calls.append(args)

    @sio.on("connect")
    def connect(socket: turbosio.Socket) -> None:
        socket.join("room")

    handle = await sio.serve(port=0)
    peer = await Peer.connect(handle.url)
    try:
        sio.server_side_emit("hello", 1)  # reaches no one: there is no other server
        assert await sio.server_side_emit_with_ack("hello", 1) == []
        assert calls == []
        with pytest.raises(ValueError, match="reserved"):
            sio.server_side_emit("connect")

        sockets = await sio.in_("room").fetch_sockets()
        assert [type(s) for s in sockets] == [turbosio.Socket]
        sio.in_("room").sockets_join("other")
        assert sockets[0].rooms == {peer.sid, "room", "other"}
        sio.in_("other").sockets_leave("room")
        assert sockets[0].rooms == {peer.sid, "other"}
        assert await sio.timeout(5).emit_with_ack("q") == [("ack", "q")]
        assert await sio.local.timeout(5).emit_with_ack("q") == [("ack", "q")]
        sio.in_("other").disconnect_sockets()
        assert await peer.until("<disconnect>") == [("q", []), ("q", [])]
    finally:
        await peer.close()
        await handle.close()


def test_options_travel_as_node_writes_them() -> None:
    opts = BroadcastOptions(
        frozenset({"a"}), frozenset({"b"}), BroadcastFlags(volatile=True, timeout=1.5)
    )
    wire = encode_options(opts)
    assert wire == {
        "rooms": ["a"],
        "except": ["b"],
        "flags": {"volatile": True, "timeout": 1500},
    }
    assert list(wire) == ["rooms", "except", "flags"]
    assert decode_options(wire) == BroadcastOptions(
        frozenset({"a"}), frozenset({"b"}), BroadcastFlags(volatile=True, timeout=1.5)
    )
    assert encode_options(BroadcastOptions(), flags=False) == {"rooms": [], "except": []}
    assert decode_options({"rooms": [1, "x"], "flags": {"compress": False}}) == BroadcastOptions(
        frozenset({"1", "x"}), frozenset(), BroadcastFlags(compress=False)
    )
    assert decode_options("nonsense") == BroadcastOptions()


def test_malformed_messages_are_ignored() -> None:
    assert packet_from_wire({"type": 2, "data": []}, "/") is None
    assert packet_from_wire({"type": 0, "data": ["x"]}, "/") is None
    assert packet_from_wire([2, ["x"]], "/") is None
    assert packet_from_wire({"type": 2, "data": ["x", 1]}, "/") is not None
    assert details_from_wire({"handshake": {}}) is None
    assert details_from_wire({"id": "a"}) == SocketDetails("a", {}, [], None)


def test_json_as_node_writes_it() -> None:
    assert json_dumps({"b": b"\x01\x02", "s": {1}, 3: object}).startswith(
        b'{"b":{"type":"Buffer","data":[1,2]},"s":[1],"3":"'
    )


def test_handshake_of_a_remote_socket() -> None:
    handshake = handshake_from_dict(
        {
            "headers": {"host": "x"},
            "time": "now",
            "address": "::1",
            "xdomain": False,
            "secure": True,
            "issued": 1.0,
            "url": "/socket.io/?EIO=4",
            "query": {"EIO": "4"},
            "auth": {"token": 1},
            "sessionExtra": 3,
        }
    )
    assert handshake.headers == {"host": "x"}
    assert handshake.secure is True and handshake.issued == 1
    assert handshake.auth == {"token": 1}
    assert handshake.extra == {"sessionExtra": 3}
    sio = turbosio.Server()
    remote = RemoteSocket(sio.sockets, SocketDetails("id1", {}, ["id1", "r"], {"k": 1}))
    assert (remote.id, remote.rooms, remote.data, remote.namespace) == (
        "id1",
        {"id1", "r"},
        {"k": 1},
        "/",
    )
    assert remote.timeout(2).id == "id1"
    assert remote.handshake.address == ""


def test_reply_once_answers_the_first_reply_only() -> None:
    answers: list[Any] = []
    reply = reply_once(answers.append)
    reply({"n": 1})
    reply({"n": 2})
    reply(None)
    assert answers == [{"n": 1}]
