"""Engine.IO v4 codec: packets, polling payloads, the handshake packet.

Wire strings come from the Engine.IO v4 protocol document and its official test suite.
"""

from __future__ import annotations

import orjson
import pytest

from turbosio.protocol import DecodeError
from turbosio.protocol.engineio import (
    CLOSE,
    NOOP,
    PING,
    PONG,
    PROBE_PING,
    PROBE_PONG,
    SEPARATOR,
    UPGRADE,
    Packet,
    PacketType,
    decode_payload,
    encode_binary_polling,
    encode_open,
    encode_payload,
)


def test_packet_type_values() -> None:
    assert [(t.name, int(t)) for t in PacketType] == [
        ("OPEN", 0),
        ("CLOSE", 1),
        ("PING", 2),
        ("PONG", 3),
        ("MESSAGE", 4),
        ("UPGRADE", 5),
        ("NOOP", 6),
    ]


def test_constants_are_the_encoded_packets() -> None:
    assert SEPARATOR == "\x1e"
    assert Packet(PacketType.PING).encode() == PING == "2"
    assert Packet(PacketType.PONG).encode() == PONG == "3"
    assert Packet(PacketType.CLOSE).encode() == CLOSE == "1"
    assert Packet(PacketType.NOOP).encode() == NOOP == "6"
    assert Packet(PacketType.UPGRADE).encode() == UPGRADE == "5"
    assert Packet(PacketType.PING, "probe").encode() == PROBE_PING == "2probe"
    assert Packet(PacketType.PONG, "probe").encode() == PROBE_PONG == "3probe"


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        ("4hello", Packet(PacketType.MESSAGE, "hello")),
        ("2", Packet(PacketType.PING)),
        ("3", Packet(PacketType.PONG)),
        ("2probe", Packet(PacketType.PING, "probe")),
        ("3probe", Packet(PacketType.PONG, "probe")),
        ("5", Packet(PacketType.UPGRADE)),
        ("6", Packet(PacketType.NOOP)),
        ("1", Packet(PacketType.CLOSE)),
        ('42["chat","hi"]', Packet(PacketType.MESSAGE, '2["chat","hi"]')),
        ("4é\x1f\U0001f600", Packet(PacketType.MESSAGE, "é\x1f\U0001f600")),
    ],
)
def test_text_packets_round_trip(wire: str, packet: Packet) -> None:
    assert Packet.decode(wire) == packet
    assert packet.encode() == wire


def test_payloadless_packet_has_data_none_not_empty_string() -> None:
    assert Packet.decode("4").data is None
    assert Packet.decode("2").data is None
    assert Packet(PacketType.MESSAGE, "").encode() == "4"


def test_binary_message_is_raw_bytes_over_websocket() -> None:
    packet = Packet.decode(b"\x01\x02\x03\x04")
    assert packet == Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")
    assert packet.encode() == b"\x01\x02\x03\x04"
    assert Packet.decode(bytearray(b"\x00")) == Packet(PacketType.MESSAGE, b"\x00")
    assert Packet.decode(b"") == Packet(PacketType.MESSAGE, b"")


def test_base64_text_packet_is_a_binary_message() -> None:
    # Node's engine.io decodes "b"+base64 text the same way on every transport.
    assert Packet.decode("bAQIDBA==") == Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")
    assert Packet.decode("b") == Packet(PacketType.MESSAGE, b"")


def test_binary_data_only_on_message_packets() -> None:
    with pytest.raises(ValueError, match="MESSAGE"):
        Packet(PacketType.PING, b"x").encode()


@pytest.mark.parametrize("wire", ["", "7", "9hello", "abc", "x", " 4", "-1", "\x1e", "٤hello"])
def test_invalid_text_packets(wire: str) -> None:
    with pytest.raises(DecodeError):
        Packet.decode(wire)


def test_decode_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        Packet.decode(4)  # type: ignore[arg-type]


# --- polling payloads ---------------------------------------------------------------------


def test_encode_payload_from_the_test_suite() -> None:
    assert encode_payload(["4hello"]) == "4hello"
    assert encode_payload(["4test1", "4test2", "4test3"]) == "4test1\x1e4test2\x1e4test3"
    assert encode_payload(["4hello", b"\x01\x02\x03\x04"]) == "4hello\x1ebAQIDBA=="
    assert encode_payload(iter([PING, NOOP])) == "2\x1e6"


def test_decode_payload_from_the_test_suite() -> None:
    assert decode_payload("4hello") == [Packet(PacketType.MESSAGE, "hello")]
    assert decode_payload("4test1\x1e4test2\x1e4test3") == [
        Packet(PacketType.MESSAGE, "test1"),
        Packet(PacketType.MESSAGE, "test2"),
        Packet(PacketType.MESSAGE, "test3"),
    ]
    assert decode_payload("4hello\x1ebAQIDBA==") == [
        Packet(PacketType.MESSAGE, "hello"),
        Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04"),
    ]
    assert decode_payload("3") == [Packet(PacketType.PONG)]
    assert decode_payload("1") == [Packet(PacketType.CLOSE)]


def test_encode_binary_polling() -> None:
    assert encode_binary_polling(b"\x01\x02\x03\x04") == "bAQIDBA=="
    assert encode_binary_polling(b"") == "b"
    assert encode_binary_polling(bytes(range(256)))[1:].isascii()


def test_unpadded_base64_is_accepted() -> None:
    assert decode_payload("bAQIDBA") == [Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")]
    assert decode_payload("bAQI") == [Packet(PacketType.MESSAGE, b"\x01\x02")]


@pytest.mark.parametrize(
    "body",
    [
        "abc",  # the test suite's invalid POST body
        "",
        "4hello\x1e",
        "\x1e4hello",
        "4a\x1e\x1e4b",
        "4hello\x1ebA",  # 1 character past a multiple of 4: not base64
        "b!!!!",
        "bAQ ID",
        "bAQIDBA==\n",
        "béé",
        "4ok\x1e9",
    ],
)
def test_invalid_payloads(body: str) -> None:
    with pytest.raises(DecodeError):
        decode_payload(body)


# --- handshake ----------------------------------------------------------------------------


def test_encode_open_exact_form() -> None:
    text = encode_open("lv_VI97HAXpY6yYWAAAC", ["websocket"], 25000, 20000, 1000000)
    assert text == (
        '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
        '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
    )


def test_encode_open_websocket_only_session() -> None:
    text = encode_open("abc", [], 300, 200, 1000000)
    assert text.startswith("0")
    assert list(orjson.loads(text[1:]).items()) == [
        ("sid", "abc"),
        ("upgrades", []),
        ("pingInterval", 300),
        ("pingTimeout", 200),
        ("maxPayload", 1000000),
    ]
    assert Packet.decode(text).type is PacketType.OPEN


def test_encode_open_escapes_the_sid() -> None:
    text = encode_open('a"b', ["websocket"], 1, 2, 3)
    assert orjson.loads(text[1:])["sid"] == 'a"b'
