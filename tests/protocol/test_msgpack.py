"""The msgpack parser (socket.io-msgpack-parser's format, notepack.io's value mapping)."""

from __future__ import annotations

import struct
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import msgpack
import pytest

import turbosio.protocol.msgpack as msgpack_module
from turbosio.protocol import DecodeError
from turbosio.protocol.msgpack import MsgpackParser
from turbosio.protocol.socketio import Packet, PacketType

E = PacketType.EVENT
A = PacketType.ACK
parser = MsgpackParser()


def decode(raw: bytes) -> Packet:
    packet = parser.decoder().feed(raw)
    assert packet is not None
    return packet


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "packet",
    [
        Packet(PacketType.CONNECT),
        Packet(PacketType.CONNECT, "/admin", {"token": "123"}),
        Packet(PacketType.CONNECT, "/", {"sid": "abc"}),
        Packet(PacketType.DISCONNECT, "/admin"),
        Packet(E, "/", ["chat", "hi"]),
        Packet(E, "/chat", ["up", b"\x00\x01", {"nested": [b"", 1.5, None, True]}], 12),
        Packet(E, "/", [7]),
        Packet(A, "/", [], 0),
        Packet(A, "/x", [b"bin", "text"], 99),
        Packet(PacketType.CONNECT_ERROR, "/", {"message": "Not authorized", "data": [1]}),
        Packet(PacketType.CONNECT_ERROR, "/", "text error"),
    ],
)
def test_round_trip(packet: Packet) -> None:
    [raw] = parser.encode(packet)
    assert isinstance(raw, bytes)
    assert decode(raw) == packet


def test_wire_form_is_one_map() -> None:
    [raw] = parser.encode(Packet(E, "/chat", ["x", b"\x01"], 3))
    assert isinstance(raw, bytes)
    assert msgpack.unpackb(raw) == {"type": 2, "nsp": "/chat", "data": ["x", b"\x01"], "id": 3}
    # absent data and id are left out (Node's decoder wants them undefined, not nil)
    [raw] = parser.encode(Packet(PacketType.DISCONNECT, "/"))
    assert isinstance(raw, bytes)
    assert msgpack.unpackb(raw) == {"type": 1, "nsp": "/"}


def test_binary_types_go_out_as_event_and_ack() -> None:
    [raw] = parser.encode(Packet(PacketType.BINARY_EVENT, "/", ["x", b"1"]))
    assert isinstance(raw, bytes)
    assert msgpack.unpackb(raw)["type"] == 2
    [raw] = parser.encode(Packet(PacketType.BINARY_ACK, "/", [b"1"], 1))
    assert isinstance(raw, bytes)
    assert msgpack.unpackb(raw)["type"] == 3


def test_bytearray_and_memoryview_encode_as_bin() -> None:
    [raw] = parser.encode(Packet(E, "/", ["x", bytearray(b"a"), memoryview(b"b")]))
    assert isinstance(raw, bytes)
    assert decode(raw).data == ["x", b"a", b"b"]


def test_decoder_is_stateless_and_shared() -> None:
    assert parser.decoder() is parser.decoder()
    assert parser.decoder(max_attachments=1) is parser.decoder()


def test_feed_fields() -> None:
    raw = pack({"type": 2, "nsp": "/", "data": ["a"], "id": 5})
    assert parser.decoder().feed_fields(raw) == (E, "/", ["a"], 5)


def test_integral_floats_count_as_integers() -> None:
    assert decode(pack({"type": 2.0, "nsp": "/", "data": ["a"], "id": 3.0})) == Packet(
        E, "/", ["a"], 3
    )


# --- notepack.io values --------------------------------------------------------------------

UNDEFINED = b"\xd4\x00\x00"  # fixext 1, type 0


def event_with(*raw_args: bytes) -> bytes:
    """A msgpack EVENT packet whose data is ["e", *args], each arg given pre-encoded."""
    array = bytes([0x90 | (1 + len(raw_args))]) + b"\xa1e" + b"".join(raw_args)
    return b"\x83" + pack("type") + pack(2) + pack("nsp") + pack("/") + pack("data") + array


def test_notepack_undefined_is_none() -> None:
    assert decode(event_with(UNDEFINED)).data == ["e", None]
    # an undefined id, or undefined CONNECT/DISCONNECT data, is absent
    raw = b"\x83" + pack("type") + pack(1) + pack("nsp") + pack("/") + pack("data") + UNDEFINED
    assert decode(raw) == Packet(PacketType.DISCONNECT)
    raw = b"\x84" + pack("type") + pack(2) + pack("nsp") + pack("/") + pack("data")
    raw += pack(["a"]) + pack("id") + UNDEFINED
    assert decode(raw) == Packet(E, "/", ["a"])


def test_notepack_arraybuffer_is_bytes() -> None:
    ext8 = b"\xc7\x03\x00abc"  # ext 8, type 0: what Node's notepack sends for a Uint8Array
    ext16 = b"\xc8\x01\x00\x00" + b"z" * 256
    zero = b"\xc7\x01\x00\x00"  # a one-byte ArrayBuffer holding 0, not undefined
    eight = b"\xc7\x08\x00" + bytes(range(8))  # an 8-byte ArrayBuffer, not a Date
    assert decode(event_with(ext8, ext16, zero, eight)).data == [
        "e",
        b"abc",
        b"z" * 256,
        b"\x00",
        bytes(range(8)),
    ]


def test_notepack_date_is_an_aware_datetime() -> None:
    millis = 1_700_000_000_123
    date = b"\xd7\x00" + struct.pack(">iI", millis >> 32, millis & 0xFFFFFFFF)
    expected = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=millis)
    assert decode(event_with(date)).data == ["e", expected]
    before_1970 = b"\xd7\x00" + struct.pack(">iI", -1, 0xFFFFFFFF)  # -1 ms
    assert decode(event_with(before_1970)).data == [
        "e",
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc),
    ]


def test_datetime_encodes_as_a_notepack_date() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
    [raw] = parser.encode(Packet(E, "/", ["t", when, when.replace(tzinfo=None)]))
    assert isinstance(raw, bytes)
    millis = int(when.timestamp() * 1000)
    date = b"\xd7\x00" + struct.pack(">iI", millis >> 32, millis & 0xFFFFFFFF)
    assert raw.count(date) == 2
    assert decode(raw).data == ["t", when, when]


def test_invalid_utf8_is_replaced_not_refused() -> None:
    raw = event_with(b"\xa3a\xffb", b"\xa3\xed\xa0\x80")  # a stray byte, a lone surrogate
    assert decode(raw).data == ["e", "a\ufffdb", "\ufffd\ufffd\ufffd"]


def test_other_extension_types_are_kept() -> None:
    raw = event_with(b"\xd4\x05\x01")
    assert decode(raw).data == ["e", msgpack.ExtType(5, b"\x01")]


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        ["not", "a", "map"],
        "text",
        None,
        {},
        {"nsp": "/", "data": ["a"]},  # no type
        {"type": 5, "nsp": "/", "data": ["a"]},  # no BINARY_* types in this format
        {"type": 6, "nsp": "/", "data": []},
        {"type": -1, "nsp": "/"},
        {"type": 7, "nsp": "/"},
        {"type": "2", "nsp": "/", "data": ["a"]},
        {"type": True, "nsp": "/"},
        {"type": 2.5, "nsp": "/", "data": ["a"]},
        {"type": 2, "data": ["a"]},  # no nsp
        {"type": 2, "nsp": 1, "data": ["a"]},
        {"type": 2, "nsp": None, "data": ["a"]},
        {"type": 2, "nsp": "/"},  # EVENT without data
        {"type": 2, "nsp": "/", "data": []},
        {"type": 2, "nsp": "/", "data": "a"},
        {"type": 2, "nsp": "/", "data": [None]},
        {"type": 2, "nsp": "/", "data": [False]},
        {"type": 2, "nsp": "/", "data": [b"a"]},
        {"type": 2, "nsp": "/", "data": ["connect"]},
        {"type": 2, "nsp": "/", "data": ["disconnecting", 1]},
        {"type": 3, "nsp": "/"},
        {"type": 3, "nsp": "/", "data": {"a": 1}},
        {"type": 0, "nsp": "/", "data": []},
        {"type": 0, "nsp": "/", "data": "a"},
        {"type": 1, "nsp": "/", "data": {}},
        {"type": 4, "nsp": "/"},
        {"type": 4, "nsp": "/", "data": [1]},
        {"type": 2, "nsp": "/", "data": ["a"], "id": "1"},
        {"type": 2, "nsp": "/", "data": ["a"], "id": 1.5},
        {"type": 2, "nsp": "/", "data": ["a"], "id": [1]},
    ],
)
def test_invalid_packets(obj: Any) -> None:
    with pytest.raises(DecodeError):
        parser.decoder().feed(pack(obj))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",  # never used
        b"\x82\xa4type",  # truncated
        pack({"type": 2, "nsp": "/", "data": ["a"]}) + b"\x00",  # trailing data
        b"\x81\x01\x02",  # int map key
        b"\x81\x91\x01\x02",  # array map key
        b"\x91" * 5000 + b"\x01",  # too deep
        b"\x81\xa1\xff\x01",  # invalid UTF-8 in a str
        b"\xdd\xff\xff\xff\xff",  # array of 4 billion items, none there
    ],
)
def test_invalid_msgpack(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        parser.decoder().feed(raw)


def test_text_is_refused() -> None:
    with pytest.raises(DecodeError):
        parser.decoder().feed('2["a"]')


def test_unserialisable_data_raises_type_error() -> None:
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", object()]))
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", 2**70]))
    deep: Any = 1
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", deep]))


def test_missing_msgpack_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(msgpack_module, "_msgpack", None)
    monkeypatch.setitem(sys.modules, "msgpack", None)  # makes `import msgpack` fail
    with pytest.raises(ImportError, match=r"pip install turbosio\[msgpack\]"):
        MsgpackParser()
